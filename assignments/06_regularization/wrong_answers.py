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

# %% q2: the decay term is not multiplied by the learning rate, w <- w - lr * g - weight_decay * w
def l2_penalty(params):
    return sum((w**2).sum() for w in params) / 2


def sgd_step(params, lr, weight_decay):
    with torch.no_grad():
        for w in params:
            if w.grad is not None:
                w -= lr * w.grad + weight_decay * w

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

# %% q7: a column of ones for the bias, so the bias is penalised along with the weights
def ridge_fit(X, y, weight_decay):
    n, d = X.shape
    A = torch.cat([X, torch.ones(n, 1, dtype=X.dtype)], dim=1)
    M = A.T @ A / n + weight_decay * torch.eye(d + 1, dtype=X.dtype)
    theta = torch.linalg.solve(M, A.T @ y / n)
    return theta[:d], theta[d]

# %% q8: dropout variance without the 1 / (1 - p) scaling, h^2 p (1 - p)
answers = {"dropout_variance": 1.0, "decay_factor": (1 - 0.1 * 5e-4) ** 1000, "min_degree": 11, "diagnosis": "C"}
