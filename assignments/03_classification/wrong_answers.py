"""Known-wrong answers for 03_classification, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: the textbook formula without the max shift, so large logits give inf / inf = nan
def softmax(O):
    E = torch.exp(O)
    return E / E.sum(dim=1, keepdim=True)

# %% q1: normalises each column (dim=0) instead of each row
def softmax(O):
    E = torch.exp(O - O.max(dim=1, keepdim=True).values)
    return E / E.sum(dim=0, keepdim=True)

# %% q2: log(sum(exp(O))) straight from the definition, which overflows to inf
def logsumexp(O):
    return torch.log(torch.exp(O).sum(dim=1))

# %% q2: shifts by the maximum but forgets to add it back
def logsumexp(O):
    m = O.max(dim=1, keepdim=True).values
    return torch.log(torch.exp(O - m).sum(dim=1))

# %% q3: takes the log of the softmax, which underflows to log(0) = -inf for far-behind classes
def cross_entropy(O, y):
    P = torch.softmax(O, dim=1)
    return -torch.log(P[torch.arange(len(O)), y]).mean()

# %% q3: indexes O[:, y], which picks every label's column for every row (an (n, n) matrix)
def cross_entropy(O, y):
    return (torch.logsumexp(O, dim=1) - O[:, y]).mean()

# %% q4: never resets W.grad and b.grad, so every step uses the sum of all past gradients
def fit_softmax_regression(X, y, num_classes, num_epochs, lr, batch_size, generator):
    n = len(X)
    X = X.reshape(n, -1)
    W = torch.zeros(X.shape[1], num_classes, dtype=X.dtype, requires_grad=True)
    b = torch.zeros(num_classes, dtype=X.dtype, requires_grad=True)
    for epoch in range(num_epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            F.cross_entropy(X[idx] @ W + b, y[idx]).backward()
            with torch.no_grad():
                W -= lr * W.grad
                b -= lr * b.grad
    return W.detach(), b.detach()

# %% q4: sums the loss over the batch instead of averaging it (the step grows with batch_size)
def fit_softmax_regression(X, y, num_classes, num_epochs, lr, batch_size, generator):
    n = len(X)
    X = X.reshape(n, -1)
    W = torch.zeros(X.shape[1], num_classes, dtype=X.dtype, requires_grad=True)
    b = torch.zeros(num_classes, dtype=X.dtype, requires_grad=True)
    for epoch in range(num_epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            F.cross_entropy(X[idx] @ W + b, y[idx], reduction="sum").backward()
            with torch.no_grad():
                W -= lr * W.grad
                b -= lr * b.grad
                W.grad = None
                b.grad = None
    return W.detach(), b.detach()

# %% q5: averages the per-batch mean losses, which over-weights a small last batch
def evaluate(net, X, y, k=1, batch_size=256):
    batch_losses, hits = [], 0
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            O = net(X[start : start + batch_size])
            yb = y[start : start + batch_size]
            batch_losses.append(F.cross_entropy(O, yb).item())
            hits += (O.topk(k, dim=1).indices == yb[:, None]).any(dim=1).sum().item()
    return sum(batch_losses) / len(batch_losses), hits / len(X)

# %% q5: takes the first k columns of argsort, which sorts ascending: the k SMALLEST logits
def evaluate(net, X, y, k=1, batch_size=256):
    loss_sum, hits = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            O = net(X[start : start + batch_size])
            yb = y[start : start + batch_size]
            loss_sum += F.cross_entropy(O, yb, reduction="sum").item()
            hits += (O.argsort(dim=1)[:, :k] == yb[:, None]).any(dim=1).sum().item()
    return loss_sum / len(X), hits / len(X)

# %% q5: evaluates with gradient tracking on, building a graph nobody uses
def evaluate(net, X, y, k=1, batch_size=256):
    loss_sum, hits = 0.0, 0
    for start in range(0, len(X), batch_size):
        O = net(X[start : start + batch_size])
        yb = y[start : start + batch_size]
        loss_sum += F.cross_entropy(O, yb, reduction="sum").item()
        hits += (O.topk(k, dim=1).indices == yb[:, None]).any(dim=1).sum().item()
    return loss_sum / len(X), hits / len(X)

# %% q6: swaps the axes, so rows are the predicted class and columns the true class
def confusion_matrix(y, y_hat, num_classes):
    pairs = y_hat * num_classes + y
    return torch.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)

# %% q6: bincount without minlength, which is too short when the last classes never occur
def confusion_matrix(y, y_hat, num_classes):
    counts = torch.bincount(y * num_classes + y_hat)
    return counts.reshape(num_classes, -1)

# %% q7: ends the network with a softmax although nn.CrossEntropyLoss expects logits
def train_torch_softmax_regression(X, y, num_epochs, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), 10), nn.Softmax(dim=1))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(num_epochs):
        perm = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), 256):
            idx = perm[start : start + 256]
            loss = loss_fn(net(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net

# %% q7: forgets optimizer.zero_grad(), so gradients pile up from step to step
def train_torch_softmax_regression(X, y, num_epochs, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), 10))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(num_epochs):
        perm = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), 256):
            idx = perm[start : start + 256]
            loss_fn(net(X[idx]), y[idx]).backward()
            optimizer.step()
    return net

# %% q8: gives the probability of the true class (1/10) instead of the loss -log(1/10)
reasoning_answers = {"a": 0.1, "b": 88, "c": "D", "d": 2}

# %% q8: reads precision along the rows (that is recall), which points to class 0
reasoning_answers = {"a": math.log(10), "b": 88, "c": "D", "d": 0}
