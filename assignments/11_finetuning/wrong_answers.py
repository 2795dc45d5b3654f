"""Known-wrong answers for 11_finetuning, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: B drawn at random like A instead of zeros, so the adapter changes the output before any training
class LoRAEmbedding(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        V, d = base.weight.shape
        self.lora_A = nn.Parameter(torch.randn(r, V, dtype=base.weight.dtype))
        self.lora_B = nn.Parameter(torch.randn(d, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, X):
        out = self.base(X)
        if self.merged:
            return out
        return out + F.embedding(X, self.lora_A.T) @ self.lora_B.T * self.scaling

    def merge(self):
        if not self.merged:
            with torch.no_grad():
                self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True

    def unmerge(self):
        if self.merged:
            with torch.no_grad():
                self.base.weight -= (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = False

# %% q1: the scaling alpha / r is stored but never applied
class LoRAEmbedding(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        V, d = base.weight.shape
        self.lora_A = nn.Parameter(torch.randn(r, V, dtype=base.weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(d, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, X):
        out = self.base(X)
        if self.merged:
            return out
        return out + F.embedding(X, self.lora_A.T) @ self.lora_B.T

    def merge(self):
        if not self.merged:
            with torch.no_grad():
                self.base.weight += (self.lora_B @ self.lora_A).T
            self.merged = True

    def unmerge(self):
        if self.merged:
            with torch.no_grad():
                self.base.weight -= (self.lora_B @ self.lora_A).T
            self.merged = False

# %% q1: the base embedding is left trainable
class LoRAEmbedding(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        V, d = base.weight.shape
        self.lora_A = nn.Parameter(torch.randn(r, V, dtype=base.weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(d, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, X):
        out = self.base(X)
        if self.merged:
            return out
        return out + F.embedding(X, self.lora_A.T) @ self.lora_B.T * self.scaling

    def merge(self):
        if not self.merged:
            with torch.no_grad():
                self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True

    def unmerge(self):
        if self.merged:
            with torch.no_grad():
                self.base.weight -= (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = False

# %% q1: merge folds the correction into the weight but forward still adds the adapter, so the merged output counts it twice
class LoRAEmbedding(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        V, d = base.weight.shape
        self.lora_A = nn.Parameter(torch.randn(r, V, dtype=base.weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(d, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.merged = False

    def forward(self, X):
        return self.base(X) + F.embedding(X, self.lora_A.T) @ self.lora_B.T * self.scaling

    def merge(self):
        if not self.merged:
            with torch.no_grad():
                self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = True

    def unmerge(self):
        if self.merged:
            with torch.no_grad():
                self.base.weight -= (self.lora_B @ self.lora_A).T * self.scaling
            self.merged = False

# %% q2: the adapters are switched on but the base weights are left trainable
def mark_only_lora_trainable(model, keep=()):
    trainable = total = 0
    for name, param in model.named_parameters():
        if "lora_" in name or any(name.startswith(k) for k in keep):
            param.requires_grad_(True)
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total

# %% q2: tied weights counted once per module that holds them
def mark_only_lora_trainable(model, keep=()):
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name or any(name.startswith(k) for k in keep))
    total = trainable = 0
    for module in model.modules():
        for param in module.parameters(recurse=False):
            total += param.numel()
            trainable += param.numel() if param.requires_grad else 0
    return trainable, total

# %% q3: dropout left on at evaluation (F.dropout with training=True)
class LoRADropoutLinear(nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.p = p

    def forward(self, x):
        h = F.dropout(x, self.p, training=True)
        return self.base(x) + self.scaling * (h @ self.lora_A.T @ self.lora_B.T)

    def merged_linear(self):
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.scaling * self.lora_B @ self.lora_A
        return merged

# %% q3: dropout applied to the input of the whole layer, base included
class LoRADropoutLinear(nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        x = self.dropout(x)
        return self.base(x) + self.scaling * (x @ self.lora_A.T @ self.lora_B.T)

    def merged_linear(self):
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.scaling * self.lora_B @ self.lora_A
        return merged

# %% q3: merged_linear adds the correction to the layer's own base and returns it, so the layer now counts it twice
class LoRADropoutLinear(nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        return self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    def merged_linear(self):
        with torch.no_grad():
            self.base.weight += self.scaling * self.lora_B @ self.lora_A
        return self.base

# %% q3: merged weight without the scaling alpha / r
class LoRADropoutLinear(nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        return self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    def merged_linear(self):
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.lora_B @ self.lora_A
        return merged

# %% q3: B initialised at random, so the layer does not start as the pretrained one
class LoRADropoutLinear(nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=base.weight.dtype) / math.sqrt(base.in_features))
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r, dtype=base.weight.dtype) / math.sqrt(r))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        return self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    def merged_linear(self):
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.scaling * self.lora_B @ self.lora_A
        return merged

# %% q4: each model resampled on its own (unpaired), as if the two test sets were independent
def paired_bootstrap_ci(correct_a, correct_b, num_resamples=1000, level=0.95, generator=None):
    n = len(correct_a)
    idx_a = torch.randint(0, n, (num_resamples, n), generator=generator)
    idx_b = torch.randint(0, n, (num_resamples, n), generator=generator)
    diffs = correct_a.double()[idx_a].mean(1) - correct_b.double()[idx_b].mean(1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    return tuple(torch.quantile(diffs, q).tolist())

# %% q4: the interval of the level itself instead of its two tails (quantiles level and 1 - level)
def paired_bootstrap_ci(correct_a, correct_b, num_resamples=1000, level=0.95, generator=None):
    n = len(correct_a)
    idx = torch.randint(0, n, (num_resamples, n), generator=generator)
    diffs = correct_a.double()[idx].mean(1) - correct_b.double()[idx].mean(1)
    q = torch.tensor([1 - level, level], dtype=torch.float64)
    return tuple(torch.quantile(diffs, q).tolist())

# %% q5: the gradient of the sum over the batch, not of the mean
def sgns_grads(v, u_pos, u_neg):
    pos = (v * u_pos).sum(-1)
    neg = torch.einsum("nkd,nd->nk", u_neg, v)
    d_pos = torch.sigmoid(pos) - 1
    d_neg = torch.sigmoid(neg)
    grad_v = d_pos[:, None] * u_pos + (d_neg[:, :, None] * u_neg).sum(1)
    return grad_v, d_pos[:, None] * v, d_neg[:, :, None] * v[:, None, :]

# %% q5: sign of the noise term flipped (sigma(s) - 1 used for the noise words too)
def sgns_grads(v, u_pos, u_neg):
    N = v.shape[0]
    pos = (v * u_pos).sum(-1)
    neg = torch.einsum("nkd,nd->nk", u_neg, v)
    d_pos = (torch.sigmoid(pos) - 1) / N
    d_neg = (torch.sigmoid(neg) - 1) / N
    grad_v = d_pos[:, None] * u_pos + (d_neg[:, :, None] * u_neg).sum(1)
    return grad_v, d_pos[:, None] * v, d_neg[:, :, None] * v[:, None, :]

# %% q5: autograd through torch.autograd.grad instead of the gradients by hand
def sgns_grads(v, u_pos, u_neg):
    ins = [t.detach().clone().requires_grad_() for t in (v, u_pos, u_neg)]
    pos = (ins[0] * ins[1]).sum(-1)
    neg = torch.bmm(ins[2], ins[0].unsqueeze(-1)).squeeze(-1)
    loss = -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()
    return tuple(torch.autograd.grad(loss, ins))

# %% q5: autograd through loss.backward() instead of the gradients by hand
def sgns_grads(v, u_pos, u_neg):
    ins = [t.detach().clone().requires_grad_() for t in (v, u_pos, u_neg)]
    pos = (ins[0] * ins[1]).sum(-1)
    neg = torch.bmm(ins[2], ins[0].unsqueeze(-1)).squeeze(-1)
    loss = -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()
    loss.backward()
    return tuple(t.grad for t in ins)

# %% q5: autograd through torch.autograd.backward instead of the gradients by hand
def sgns_grads(v, u_pos, u_neg):
    ins = [t.detach().clone().requires_grad_() for t in (v, u_pos, u_neg)]
    pos = (ins[0] * ins[1]).sum(-1)
    neg = torch.bmm(ins[2], ins[0].unsqueeze(-1)).squeeze(-1)
    loss = -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()
    torch.autograd.backward(loss)
    return tuple(t.grad for t in ins)

# %% q6: the test set used for early stopping (the epoch with the best test accuracy is kept)
def train_with_early_stopping(net, X_train, y_train, X_val, y_val, X_test, y_test, num_epochs, lr):
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
    val_accs, test_accs, best_epoch, best_state = [], [], 0, None
    for epoch in range(1, num_epochs + 1):
        net.train()
        loss = F.cross_entropy(net(X_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            val_accs.append((net(X_val).argmax(1) == y_val).double().mean().item())
            test_accs.append((net(X_test).argmax(1) == y_test).double().mean().item())
        if best_state is None or test_accs[-1] > test_accs[best_epoch - 1]:
            best_epoch, best_state = epoch, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return {"best_epoch": best_epoch, "val_accs": val_accs, "test_acc": test_accs[best_epoch - 1]}

# %% q6: dropout left on at evaluation (validation and test measured in training mode)
def train_with_early_stopping(net, X_train, y_train, X_val, y_val, X_test, y_test, num_epochs, lr):
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
    net.train()
    val_accs, best_epoch, best_state = [], 0, None
    for epoch in range(1, num_epochs + 1):
        loss = F.cross_entropy(net(X_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            val_accs.append((net(X_val).argmax(1) == y_val).double().mean().item())
        if best_state is None or val_accs[-1] > val_accs[best_epoch - 1]:
            best_epoch, best_state = epoch, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    with torch.no_grad():
        test_acc = (net(X_test).argmax(1) == y_test).double().mean().item()
    net.eval()
    return {"best_epoch": best_epoch, "val_accs": val_accs, "test_acc": test_acc}

# %% q6: the weights of the last epoch are kept, only the best epoch's number is reported
def train_with_early_stopping(net, X_train, y_train, X_val, y_val, X_test, y_test, num_epochs, lr):
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
    val_accs = []
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            val_accs.append((net(X_val).argmax(1) == y_val).double().mean().item())
    best_epoch = max(range(num_epochs), key=lambda i: (val_accs[i], -i)) + 1
    with torch.no_grad():
        test_acc = (net(X_test).argmax(1) == y_test).double().mean().item()
    return {"best_epoch": best_epoch, "val_accs": val_accs, "test_acc": test_acc}

# %% q7: names matched as substrings, so "q" also adapts "qv"
def lora_parameter_count(model, target_names, r):
    total = 0
    for name, module in model.named_modules():
        if not any(t in name for t in target_names):
            continue
        if isinstance(module, nn.Linear):
            total += r * (module.in_features + module.out_features)
        elif isinstance(module, nn.Embedding):
            total += r * (module.num_embeddings + module.embedding_dim)
    return total

# %% q7: the embedding table forgotten (only nn.Linear layers counted)
def lora_parameter_count(model, target_names, r):
    total = 0
    for name, module in model.named_modules():
        if name.split(".")[-1] in target_names and isinstance(module, nn.Linear):
            total += r * (module.in_features + module.out_features)
    return total

# %% q8: the 'pretrained' run also starts from make_model(), so the source weights are never used
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = make_model()
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: the step is chosen by test accuracy (early stopping on the test set)
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *test)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: validation and test accuracy measured in training mode (dropout still on)
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: fine-tunes the given source model itself instead of a copy
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = source
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: keeps the weights of the last step instead of the best validation step
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: on a tie the later step wins (>= instead of >)
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc >= best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: the scratch model is trained with the fine-tuning learning rate
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_pretrained)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: accuracies returned as 0-d tensors (no .item())
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: the best state is kept by reference (state_dict() without a copy), so it follows later steps
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % eval_every == 0:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, net.state_dict()
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}

# %% q8: validation measured after every step, not every eval_every steps
def transfer_experiment(source, make_model, train, val, test, num_steps, eval_every, lr_pretrained, lr_scratch):
    def accuracy(net, X, y):
        net.eval()
        with torch.no_grad():
            return (net(X).argmax(dim=1) == y).double().mean().item()

    def run(net, lr):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        best_acc, best_step, best_state = -1.0, 0, None
        for step in range(1, num_steps + 1):
            net.train()
            loss = F.cross_entropy(net(train[0]), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if True:
                val_acc = accuracy(net, *val)
                if val_acc > best_acc:
                    best_acc, best_step, best_state = val_acc, step, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        return accuracy(net, *test), best_step

    pretrained = copy.deepcopy(source)  # the given source model must not change
    pretrained_acc, pretrained_step = run(pretrained, lr_pretrained)
    scratch = make_model()
    scratch_acc, scratch_step = run(scratch, lr_scratch)
    return {"pretrained_acc": pretrained_acc, "scratch_acc": scratch_acc, "gain": pretrained_acc - scratch_acc,
            "best_steps": (pretrained_step, scratch_step), "models": (pretrained, scratch)}
