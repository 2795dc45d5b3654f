"""Known-wrong answers for 09_rnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: vocabulary sorted alphabetically instead of by frequency (what d2l 1.0's Vocab does)
class Vocab:
    def __init__(self, tokens, min_freq=1, reserved_tokens=()):
        counts = collections.Counter(tokens)
        self.idx_to_token = ["<unk>", *reserved_tokens]
        self.idx_to_token += sorted(t for t, c in counts.items()
                                    if c >= min_freq and t not in self.idx_to_token)
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if isinstance(tokens, (list, tuple)):
            return [self[t] for t in tokens]
        return self.token_to_idx.get(tokens, 0)

    def to_tokens(self, indices):
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[i] for i in indices]
        return self.idx_to_token[indices]

# %% q2: consecutive windows grouped into minibatches, so row j of the next minibatch does not continue row j
def seq_data_iter_sequential(corpus, batch_size, num_steps, offset=0):
    corpus = corpus[offset:]
    num_windows = (len(corpus) - 1) // num_steps
    Xs = corpus[:num_windows * num_steps].reshape(num_windows, num_steps)
    Ys = corpus[1:num_windows * num_steps + 1].reshape(num_windows, num_steps)
    for i in range(0, num_windows - batch_size + 1, batch_size):
        yield Xs[i:i + batch_size], Ys[i:i + batch_size]

# %% q3: nn.RNNCell's layout mixed up: the recurrent weight is used transposed
def rnn_cell_step(X_t, H, W_xh, W_hh, b_h):
    return torch.tanh(X_t @ W_xh + H @ W_hh.T + b_h)

# %% q4: the state is never updated, so every step starts again from the initial H
def rnn_forward(inputs, H, W_xh, W_hh, b_h, nonlinearity="tanh"):
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    if H is None:
        H = torch.zeros(inputs.shape[1], W_hh.shape[0], dtype=inputs.dtype)
    outputs = []
    for X_t in inputs:
        H_new = act(X_t @ W_xh + H @ W_hh + b_h)
        outputs.append(H_new)
    return torch.stack(outputs), outputs[-1]

# %% q5: each tensor clipped to max_norm on its own, which changes the direction of the update
@torch.no_grad()
def clip_grad_norm(params, max_norm):
    params = [p for p in params if p.grad is not None]
    total_norm = math.sqrt(sum((p.grad**2).sum().item() for p in params))
    for p in params:
        norm = p.grad.norm().item()
        if norm > max_norm:
            p.grad.mul_(max_norm / norm)
    return total_norm

# %% q6: softmax computed naively with exp, which overflows for large logits
def perplexity(logits, targets):
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    p = probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return math.exp(-p.log().mean().item())

# %% q7: the state is not carried: every new token is fed in with state None
@torch.no_grad()
def greedy_decode(net, prefix_ids, num_preds):
    logits, _ = net(torch.tensor([prefix_ids]), None)
    new_ids = []
    for _ in range(num_preds):
        next_id = logits[0, -1].argmax().item()
        new_ids.append(next_id)
        logits, _ = net(torch.tensor([[next_id]]), None)
    return new_ids

# %% q8: GRU parameters counted with one bias vector per gate instead of two
reasoning_answers = {"perplexity": 4.0, "gru_params": 3 * (28 * 128 + 128 * 128 + 128) + 128 * 28 + 28,
                     "num_batches": 8, "grad_factor": 0.9**50}
