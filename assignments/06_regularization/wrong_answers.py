"""Known-wrong answers for 06_regularization, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: forgets the inverted scaling, so the expected activation shrinks by (1 - p) in training
def dropout(X, p, training=True, generator=None):
    if not training or p == 0:
        return X
    mask = (torch.rand(X.shape, generator=generator) > p).to(X.dtype)
    return X * mask

# %% q1: correct values, but the mask comes from nn.Dropout (seeded from the generator), which the question forbids
def dropout(X, p, training=True, generator=None):
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    return nn.Dropout(p)(X)

# %% q1: correct values, but through torch.dropout, which the question forbids
def dropout(X, p, training=True, generator=None):
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    return torch.dropout(X, p, True)

# %% q2: the penalty uses the squared column means instead of the mean squares, (mean x_j)^2 w_j^2
def expected_dropout_loss(X, y, w, b, p):
    residual = X @ w + b - y
    return residual.square().mean() + p / (1 - p) * (X.mean(dim=0).square() * w.square()).sum()

# %% q2: the variance of the scaled mask is p instead of p / (1 - p)
def expected_dropout_loss(X, y, w, b, p):
    residual = X @ w + b - y
    return residual.square().mean() + p * (X.square().mean(dim=0) * w.square()).sum()

# %% q3: no clamp before the logarithm, so a negative prediction gives nan
def log_rmse(price_hat, price):
    return torch.sqrt(((torch.log(price_hat) - torch.log(price)) ** 2).mean()).item()

# %% q4: folds of size n // k, so the last n % k rows are never validated
def kfold_indices(n, k, generator=None):
    order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
    size = n // k
    folds = []
    for i in range(k):
        val_idx = order[i * size : (i + 1) * size]
        train_idx = torch.cat([order[: i * size], order[(i + 1) * size :]])
        folds.append((train_idx, val_idx))
    return folds

# %% q5: standardises with the statistics of all rows, so the validation rows leak into training
def cross_validate(fit_fn, score_fn, X, y, folds):
    mean, std = X.mean(0), X.std(0)
    std[std == 0] = 1
    Z = (X - mean) / std
    scores = []
    for tr, va in folds:
        model = fit_fn(Z[tr], y[tr])
        scores.append(float(score_fn(model, Z[va], y[va])))
    return torch.tensor(scores, dtype=torch.float64)

# %% q6: stops one epoch late (num_bad_epochs > patience)
class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_epoch, self.num_bad_epochs = math.inf, 0, 0
        self.epoch = 0

    def step(self, val_loss):
        self.epoch += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.num_bad_epochs = val_loss, self.epoch, 0
        else:
            self.num_bad_epochs += 1
        return self.num_bad_epochs > self.patience

# %% q7: normalises every unit to norm max_norm, also the ones inside the ball
def max_norm_(net, max_norm):
    count = 0
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                W = layer.weight
                norms = W.reshape(len(W), -1).norm(dim=1)
                count += int((norms > max_norm).sum())
                W.mul_((max_norm / norms.clamp(min=1e-12)).reshape(-1, *[1] * (W.dim() - 1)))
    return count

# %% q7: only the direct children are visited, so layers inside nested modules are never constrained
def max_norm_(net, max_norm):
    count = 0
    with torch.no_grad():
        for layer in net.children():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                W = layer.weight
                norms = W.reshape(len(W), -1).norm(dim=1)
                outside = norms > max_norm
                W.mul_(torch.where(outside, max_norm / norms, torch.ones_like(norms)).reshape(-1, *[1] * (W.dim() - 1)))
                count += int(outside.sum())
    return count

# %% q7: the norm of each input column instead of each output unit (dim 0)
def max_norm_(net, max_norm):
    count = 0
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                W = layer.weight
                norms = W.norm(dim=0)
                outside = norms > max_norm
                W.mul_(torch.where(outside, max_norm / norms, torch.ones_like(norms)))
                count += int(outside.sum())
    return count

# %% q7: rescales with the forbidden Tensor.renorm_ (one unit per slice along dim 0)
def max_norm_(net, max_norm):
    count = 0
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                W = layer.weight
                count += int((W.reshape(len(W), -1).norm(dim=1) > max_norm).sum())
                W.renorm_(2, 0, max_norm)
    return count

# %% q8: dropout variance without the 1 / (1 - p) scaling, h^2 p (1 - p)
answers = {"dropout_variance": 1.0, "dropout_lambda": 0.25, "adam_l2_weight": 0.537, "diagnosis": "C"}

# %% q8: believes Adam's L2 penalty shrinks like AdamW's decoupled decay, (1 - lr * wd) ** 50
answers = {"dropout_variance": 4.0, "dropout_lambda": 0.25, "adam_l2_weight": (1 - 0.01 * 1e-4) ** 50, "diagnosis": "C"}
