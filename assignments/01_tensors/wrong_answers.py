"""Known-wrong answers for 01_tensors, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: keepdim on the wrong operand, so the row norms broadcast the wrong way round
def pairwise_sq_dists(X, Y):
    X_sq = (X**2).sum(dim=1)
    Y_sq = (Y**2).sum(dim=1, keepdim=True)
    return (X_sq + Y_sq - 2 * X @ Y.T).clamp_min(0)

# %% q1: centres X and Y in place on their joint mean (to cut round-off), which changes the caller's tensors
def pairwise_sq_dists(X, Y):
    mu = torch.cat([X, Y]).mean(dim=0)
    X -= mu
    Y -= mu
    X_sq = (X**2).sum(dim=1, keepdim=True)
    Y_sq = (Y**2).sum(dim=1)
    return (X_sq + Y_sq - 2 * X @ Y.T).clamp_min(0)

# %% q2: standardises in place, so the caller's X is overwritten
def standardize(X):
    X -= X.mean(dim=0, keepdim=True)
    X /= X.std(dim=0, unbiased=False, keepdim=True)
    return X

# %% q2: reduces over rows (dim=1) instead of columns
def standardize(X):
    return (X - X.mean(dim=1, keepdim=True)) / X.std(dim=1, unbiased=False, keepdim=True)

# %% q3: sizes the matrix from the largest label instead of num_classes
def one_hot(y, num_classes):
    out = torch.zeros(len(y), int(y.max()) + 1)
    out[torch.arange(len(y)), y] = 1.0
    return out

# %% q4: one-sided (forward) difference, whose error only shrinks like eps
def numerical_grad(f, x, eps=1e-6):
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    f0 = float(f(x))
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + eps
        flat_grad[i] = (float(f(x)) - f0) / eps
        flat_x[i] = old
    return grad

# %% q5: forgets the 1/n of the mean
def mse_grad(X, w, y):
    return 2 * X.T @ (X @ w - y)

# %% q6: never resets x.grad, so gradients accumulate across steps
def gradient_descent(f, x0, lr, num_steps):
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(num_steps):
        f(x).backward()
        with torch.no_grad():
            x -= lr * x.grad
    return x.detach()

# %% q6: updates x0 itself (no copy) and returns x still attached to autograd
def gradient_descent(f, x0, lr, num_steps):
    x = x0.requires_grad_(True)
    for _ in range(num_steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x -= lr * grad
    return x

# %% q7: tanh overwrites .grad instead of adding, and backward skips the topological sort
class Value(Value):
    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))

        def _backward():
            self.grad = (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        self.grad = 1.0
        stack = [self]
        while stack:
            node = stack.pop()
            node._backward()
            stack.extend(node._children)

# %% q8: forgets that missing leading dimensions count as 1
broadcast_answers = {"a": (3, 4, 5), "b": None, "c": (5, 6), "d": (8, 7, 6, 5)}

# %% q1: the library call the question forbids (torch.cdist, then squared)
def pairwise_sq_dists(X, Y):
    return torch.cdist(X, Y) ** 2

# %% q3: the library call the question forbids (F.one_hot)
def one_hot(y, num_classes):
    return torch.nn.functional.one_hot(y, num_classes).float()

# %% q4: autograd (backward) instead of finite differences (the question forbids it)
def numerical_grad(f, x, eps=1e-6):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward()
    return x.grad.detach()

# %% q5: autograd instead of the closed form (the question forbids it)
def mse_grad(X, w, y):
    w = w.detach().clone().requires_grad_(True)
    ((X @ w - y) ** 2).mean().backward()
    return w.grad
