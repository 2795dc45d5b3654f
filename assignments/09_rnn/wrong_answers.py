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

# %% q3: the textbook GRU: the reset gate scales H before the matrix product, not the recurrent term after its bias
def gru_cell(X, H, W_ih, W_hh, b_ih, b_hh):
    i_r, i_z, i_n = (X @ W_ih.T + b_ih).chunk(3, dim=1)
    W_hr, W_hz, W_hn = W_hh.chunk(3, dim=0)
    b_hr, b_hz, b_hn = b_hh.chunk(3)
    reset = torch.sigmoid(i_r + H @ W_hr.T + b_hr)
    update = torch.sigmoid(i_z + H @ W_hz.T + b_hz)
    candidate = torch.tanh(i_n + (reset * H) @ W_hn.T + b_hn)
    return update * H + (1 - update) * candidate

# %% q4: the four gate blocks read in the order i, f, o, g (some textbooks) instead of PyTorch's i, f, g, o
def lstm_forward(inputs, state, W_ih, W_hh, b_ih, b_hh):
    if state is None:
        zeros = torch.zeros(inputs.shape[1], W_hh.shape[1], dtype=inputs.dtype)
        state = (zeros, zeros)
    H, C = state
    outputs = []
    for X_t in inputs:
        i, f, o, g = (X_t @ W_ih.T + b_ih + H @ W_hh.T + b_hh).chunk(4, dim=1)
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        H = torch.sigmoid(o) * torch.tanh(C)
        outputs.append(H)
    return torch.stack(outputs), (H, C)

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

# %% q5: squares summed in the gradients' own float32, which overflows to inf for exploding gradients (1e20)
@torch.no_grad()
def clip_grad_norm(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    total_norm = math.sqrt(sum((g ** 2).sum().item() for g in grads))
    if total_norm > max_norm:
        for g in grads:
            g.mul_(max_norm / total_norm)
    return total_norm

# %% q6: softmax computed naively with exp, which overflows for large logits
def perplexity(logits, targets):
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    p = probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return math.exp(-p.log().mean().item())

# %% q6: subtracts the largest logit in place, which overwrites the caller's logits
def perplexity(logits, targets):
    logits -= logits.max(dim=-1, keepdim=True).values
    log_probs = logits - logits.exp().sum(dim=-1, keepdim=True).log()
    return math.exp(-log_probs.gather(-1, targets.unsqueeze(-1)).mean().item())

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

# %% q9: the state starts from None for every minibatch (the habit from random partitioning), so nothing carries over
def train_lm(net, corpus, batch_size, num_steps, num_updates, lr=0.01, max_norm=1.0):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    num_tokens = (len(corpus) - 1) // batch_size * batch_size
    Xs = corpus[:num_tokens].reshape(batch_size, -1)
    Ys = corpus[1:num_tokens + 1].reshape(batch_size, -1)
    losses = []
    for k in range(num_updates):
        logits, _ = net(Xs[:, k * num_steps:(k + 1) * num_steps], None)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Ys[:, k * num_steps:(k + 1) * num_steps].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses

# %% q9: clips before backward (the gradients of the previous step), so the step uses unclipped gradients
def train_lm(net, corpus, batch_size, num_steps, num_updates, lr=0.01, max_norm=1.0):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    num_tokens = (len(corpus) - 1) // batch_size * batch_size
    Xs = corpus[:num_tokens].reshape(batch_size, -1)
    Ys = corpus[1:num_tokens + 1].reshape(batch_size, -1)
    state, losses = None, []
    for k in range(num_updates):
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits, state = net(Xs[:, k * num_steps:(k + 1) * num_steps], state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Ys[:, k * num_steps:(k + 1) * num_steps].reshape(-1))
        optimizer.zero_grad()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses

# %% q3: the library kernel the question forbids (torch.gru_cell, what nn.GRUCell runs)
def gru_cell(X, H, W_ih, W_hh, b_ih, b_hh):
    return torch.gru_cell(X, H, W_ih, W_hh, b_ih, b_hh)

# %% q4: the library kernel the question forbids (torch.lstm_cell), one step at a time
def lstm_forward(inputs, state, W_ih, W_hh, b_ih, b_hh):
    if state is None:
        zeros = torch.zeros(inputs.shape[1], W_hh.shape[1], dtype=inputs.dtype)
        state = (zeros, zeros)
    outputs = []
    for X_t in inputs:
        state = torch.lstm_cell(X_t, state, W_ih, W_hh, b_ih, b_hh)
        outputs.append(state[0])
    return torch.stack(outputs), state

# %% q5: the library function the question forbids (clip_grad_norm_)
def clip_grad_norm(params, max_norm):
    return torch.nn.utils.clip_grad_norm_(list(params), max_norm).item()

# %% q6: the library loss the question forbids (exp of F.cross_entropy)
def perplexity(logits, targets):
    return math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item())

# %% q9: the targets are the inputs themselves (no shift by one), so the model learns to copy, not to predict
def train_lm(net, corpus, batch_size, num_steps, num_updates, lr=0.01, max_norm=1.0):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    num_tokens = (len(corpus) - 1) // batch_size * batch_size
    Xs = corpus[:num_tokens].reshape(batch_size, -1)
    state, losses = None, []
    for k in range(num_updates):
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        X = Xs[:, k * num_steps:(k + 1) * num_steps]
        logits, state = net(X, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), X.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses
