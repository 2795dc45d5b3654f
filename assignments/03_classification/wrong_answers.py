"""Known-wrong answers for 03_classification, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: treats the Jacobian as diagonal (multiplies G by 1 - softmax), forgetting the other classes
def log_softmax_backward(O, G):
    return G * (1 - torch.softmax(O, dim=-1))

# %% q1: a softmax straight from the formula, so logits of +-1000 give inf / inf = nan
def log_softmax_backward(O, G):
    E = torch.exp(O)
    return G - E / E.sum(dim=-1, keepdim=True) * G.sum(dim=-1, keepdim=True)

# %% q1: works along dim=1, which is the class dim only for 2-D inputs
def log_softmax_backward(O, G):
    return G - torch.softmax(O, dim=1) * G.sum(dim=1, keepdim=True)

# %% q1: updates the upstream gradient G in place and returns it
def log_softmax_backward(O, G):
    G -= torch.softmax(O, dim=-1) * G.sum(dim=-1, keepdim=True)
    return G

# %% q2: divides the weighted sum by n instead of by the total weight of the examples' classes
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    q = O.shape[1]
    w = torch.ones(q, dtype=O.dtype) if weight is None else weight
    logp = O - torch.logsumexp(O, dim=1, keepdim=True)
    target = torch.full_like(O, label_smoothing / q)
    target[torch.arange(len(O)), y] += 1 - label_smoothing
    return -(target * logp * w).sum() / len(O)

# %% q2: spreads epsilon over the q - 1 wrong classes only (a different smoothing than PyTorch's)
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    q = O.shape[1]
    w = torch.ones(q, dtype=O.dtype) if weight is None else weight
    logp = O - torch.logsumexp(O, dim=1, keepdim=True)
    target = torch.full_like(O, label_smoothing / (q - 1))
    target[torch.arange(len(O)), y] = 1 - label_smoothing
    return -(target * logp * w).sum() / w[y].sum()

# %% q2: weights the smoothing term by the example's own class weight instead of by each class's
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    q = O.shape[1]
    w = torch.ones(q, dtype=O.dtype) if weight is None else weight
    logp = O - torch.logsumexp(O, dim=1, keepdim=True)
    target = torch.full_like(O, label_smoothing / q)
    target[torch.arange(len(O)), y] += 1 - label_smoothing
    return -(w[y][:, None] * target * logp).sum() / w[y].sum()

# %% q2: takes the log of the softmax, which underflows to log(0) = -inf for far-behind classes
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    q = O.shape[1]
    w = torch.ones(q, dtype=O.dtype) if weight is None else weight
    logp = torch.log(torch.softmax(O, dim=1))
    target = torch.full_like(O, label_smoothing / q)
    target[torch.arange(len(O)), y] += 1 - label_smoothing
    return -(target * logp * w).sum() / w[y].sum()

# %% q3: averages the gaps of the non-empty bins without weighting them by their size
def expected_calibration_error(P, y, num_bins=10):
    conf, pred = P.max(dim=1)
    ok = (pred == y).to(P.dtype)
    gaps = []
    for m in range(num_bins):
        sel = (conf > m / num_bins) & (conf <= (m + 1) / num_bins)
        if sel.any():
            gaps.append(abs(ok[sel].mean().item() - conf[sel].mean().item()))
    return sum(gaps) / len(gaps)

# %% q3: uses the probability of the TRUE class as the confidence instead of the largest one
def expected_calibration_error(P, y, num_bins=10):
    conf = P[torch.arange(len(P)), y]
    ok = (P.argmax(dim=1) == y).to(P.dtype)
    total = 0.0
    for m in range(num_bins):
        sel = (conf > m / num_bins) & (conf <= (m + 1) / num_bins)
        if sel.any():
            total += sel.sum().item() / len(P) * abs(ok[sel].mean().item() - conf[sel].mean().item())
    return total

# %% q3: bins by floor(conf * M), so a confidence of exactly 1.0 falls outside every bin
def expected_calibration_error(P, y, num_bins=10):
    conf, pred = P.max(dim=1)
    ok = (pred == y).to(P.dtype)
    idx = (conf * num_bins).long()
    total = 0.0
    for m in range(num_bins):
        sel = idx == m
        if sel.any():
            total += sel.sum().item() / len(P) * abs(ok[sel].mean().item() - conf[sel].mean().item())
    return total

# %% q3: signed gaps, so over- and under-confident bins cancel out
def expected_calibration_error(P, y, num_bins=10):
    conf, pred = P.max(dim=1)
    ok = (pred == y).to(P.dtype)
    total = 0.0
    for m in range(num_bins):
        sel = (conf > m / num_bins) & (conf <= (m + 1) / num_bins)
        if sel.any():
            total += sel.sum().item() / len(P) * (ok[sel].mean().item() - conf[sel].mean().item())
    return abs(total)

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

# %% q4: creates W and b in float32 whatever the dtype of X
def fit_softmax_regression(X, y, num_classes, num_epochs, lr, batch_size, generator):
    n = len(X)
    X = X.reshape(n, -1).float()
    W = torch.zeros(X.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    for epoch in range(num_epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            F.cross_entropy(X[idx] @ W + b, y[idx]).backward()
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

# %% q6: multiplies the logits by T instead of dividing, so it returns 1 / T
def fit_temperature(logits, y):
    Z = logits.detach().double()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(Z * log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return log_t.exp().item()

# %% q6: a grid with step 0.01, not accurate to 0.1%
def fit_temperature(logits, y):
    Z = logits.detach().double()
    grid = torch.arange(0.05, 10.0, 0.05, dtype=torch.float64)
    losses = torch.stack([F.cross_entropy(Z / t, y) for t in grid])
    return grid[losses.argmin()].item()

# %% q6: optimises on the caller's logits without detaching, so the fit backpropagates into them
def fit_temperature(logits, y):
    log_t = torch.zeros((), dtype=logits.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return log_t.exp().item()

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

# %% q8: believes a perfect prediction still costs 0 under label smoothing
reasoning_answers = {"a": 0.0, "b": 0.09, "c": "BC", "d": 1.0, "e": 0.0}

# %% q8: believes the gradient vanishes at full confidence, as without smoothing
reasoning_answers = {"a": -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01)), "b": 0.0, "c": "BC", "d": 1.0, "e": 0.0}

# %% q8: thinks a temperature can change the predicted class as well
reasoning_answers = {"a": -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01)), "b": 0.09, "c": "ABC", "d": 1.0, "e": 0.0}

# %% q8: multiplies by the class weight, forgetting that the mean divides by the total weight
reasoning_answers = {"a": -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01)), "b": 0.09, "c": "BC", "d": 5.0, "e": 0.0}

# %% q8: takes the error rate 0.9 for the calibration error
reasoning_answers = {"a": -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01)), "b": 0.09, "c": "BC", "d": 1.0, "e": 0.9}

# %% q1: lets autograd run the backward pass (correct values, but .backward() is forbidden)
def log_softmax_backward(O, G):
    leaf = O.detach().clone().requires_grad_(True)
    torch.log_softmax(leaf, dim=-1).backward(G)
    return leaf.grad

# %% q1: asks torch.autograd.grad for the vector-Jacobian product (correct values, forbidden)
def log_softmax_backward(O, G):
    leaf = O.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.log_softmax(leaf, dim=-1), leaf, G)
    return grad

# %% q1: calls torch's internal log-softmax backward (correct values, forbidden)
def log_softmax_backward(O, G):
    return torch._log_softmax_backward_data(G, torch.log_softmax(O, dim=-1), -1, O.dtype)

# %% q2: hands everything to F.cross_entropy (correct values, forbidden)
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    return F.cross_entropy(O, y, weight=weight, label_smoothing=label_smoothing)

# %% q2: builds on F.log_softmax (correct values, but any log-softmax is forbidden)
def smoothed_cross_entropy(O, y, weight=None, label_smoothing=0.0):
    q = O.shape[1]
    w = torch.ones(q, dtype=O.dtype) if weight is None else weight
    logp = F.log_softmax(O, dim=1)
    target = torch.full_like(O, label_smoothing / q)
    target[torch.arange(len(O)), y] += 1 - label_smoothing
    return -(target * logp * w).sum() / w[y].sum()
