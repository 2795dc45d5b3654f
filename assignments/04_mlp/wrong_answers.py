"""Known-wrong answers for 04_mlp, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: leaky ReLU's derivative taken as 1 at x = 0 (x >= 0), unlike PyTorch's autograd
def activation_grad(name, x):
    if name == "leaky_relu":
        return torch.where(x >= 0, torch.ones_like(x), torch.full_like(x, 0.1))
    if name == "softplus":
        return torch.sigmoid(x)
    c = math.sqrt(2 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)

# %% q1: tanh-GELU differentiated without the chain rule through u (drops du/dx)
def activation_grad(name, x):
    if name == "leaky_relu":
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, 0.1))
    if name == "softplus":
        return torch.sigmoid(x)
    t = torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2)

# %% q2: plain ReLU in the hidden layers instead of the leaky ReLU
def mlp_forward(X, params):
    Z1 = X @ params["W1"].T + params["b1"]
    H1 = torch.relu(Z1)
    Z2 = H1 @ params["W2"].T + params["b2"]
    H2 = torch.relu(Z2)
    return H2 @ params["W3"].T + params["b3"], {"Z1": Z1, "H1": H1, "Z2": Z2, "H2": H2}

# %% q2: a leaky ReLU on the output logits too
def mlp_forward(X, params):
    Z1 = X @ params["W1"].T + params["b1"]
    H1 = F.leaky_relu(Z1, 0.1)
    Z2 = H1 @ params["W2"].T + params["b2"]
    H2 = F.leaky_relu(Z2, 0.1)
    return F.leaky_relu(H2 @ params["W3"].T + params["b3"], 0.1), {"Z1": Z1, "H1": H1, "Z2": Z2, "H2": H2}

# %% q3: multiplies by ReLU's derivative (Z > 0), forgetting the 0.1 slope of the leaky side
def mlp_backward(X, y, O, cache, params, weight_decay):
    n, q = O.shape
    dO = (torch.softmax(O, dim=1) - F.one_hot(y, q).to(O.dtype)) / n
    dZ2 = (dO @ params["W3"]) * (cache["Z2"] > 0).to(O.dtype)
    dZ1 = (dZ2 @ params["W2"]) * (cache["Z1"] > 0).to(O.dtype)
    return {"W3": dO.T @ cache["H2"] + weight_decay * params["W3"], "b3": dO.sum(dim=0),
            "W2": dZ2.T @ cache["H1"] + weight_decay * params["W2"], "b2": dZ2.sum(dim=0),
            "W1": dZ1.T @ X + weight_decay * params["W1"], "b1": dZ1.sum(dim=0)}

# %% q3: decays the biases too (adds weight_decay * b to the bias gradients)
def mlp_backward(X, y, O, cache, params, weight_decay):
    n, q = O.shape
    slope = lambda Z: torch.where(Z > 0, torch.ones_like(Z), torch.full_like(Z, 0.1))
    dO = (torch.softmax(O, dim=1) - F.one_hot(y, q).to(O.dtype)) / n
    dZ2 = (dO @ params["W3"]) * slope(cache["Z2"])
    dZ1 = (dZ2 @ params["W2"]) * slope(cache["Z1"])
    grads = {"W3": dO.T @ cache["H2"], "b3": dO.sum(dim=0), "W2": dZ2.T @ cache["H1"],
             "b2": dZ2.sum(dim=0), "W1": dZ1.T @ X, "b1": dZ1.sum(dim=0)}
    return {k: g + weight_decay * params[k] for k, g in grads.items()}

# %% q3: forgets the 1/n of the mean, so the cross-entropy part is n times too large
def mlp_backward(X, y, O, cache, params, weight_decay):
    q = O.shape[1]
    slope = lambda Z: torch.where(Z > 0, torch.ones_like(Z), torch.full_like(Z, 0.1))
    dO = torch.softmax(O, dim=1) - F.one_hot(y, q).to(O.dtype)
    dZ2 = (dO @ params["W3"]) * slope(cache["Z2"])
    dZ1 = (dZ2 @ params["W2"]) * slope(cache["Z1"])
    return {"W3": dO.T @ cache["H2"] + weight_decay * params["W3"], "b3": dO.sum(dim=0),
            "W2": dZ2.T @ cache["H1"] + weight_decay * params["W2"], "b2": dZ2.sum(dim=0),
            "W1": dZ1.T @ X + weight_decay * params["W1"], "b1": dZ1.sum(dim=0)}

# %% q4: applies a softmax before F.cross_entropy, which applies its own log-softmax (double softmax)
def autograd_grads(X, y, params, weight_decay):
    leaves = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    H1 = F.leaky_relu(X @ leaves["W1"].T + leaves["b1"], 0.1)
    H2 = F.leaky_relu(H1 @ leaves["W2"].T + leaves["b2"], 0.1)
    O = H2 @ leaves["W3"].T + leaves["b3"]
    penalty = sum((leaves[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    (F.cross_entropy(torch.softmax(O, dim=1), y) + weight_decay / 2 * penalty).backward()
    return {k: leaf.grad for k, leaf in leaves.items()}

# %% q4: penalty weight_decay * ||W||^2 without the 1/2, so the decay term is doubled
def autograd_grads(X, y, params, weight_decay):
    leaves = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    H1 = F.leaky_relu(X @ leaves["W1"].T + leaves["b1"], 0.1)
    H2 = F.leaky_relu(H1 @ leaves["W2"].T + leaves["b2"], 0.1)
    O = H2 @ leaves["W3"].T + leaves["b3"]
    penalty = sum((leaves[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    (F.cross_entropy(O, y) + weight_decay * penalty).backward()
    return {k: leaf.grad for k, leaf in leaves.items()}

# %% q5: anchors the output bias at the left end value v_0, as for right-facing hinges
def interp_relu_params(knots, values):
    s = (values[1:] - values[:-1]) / (knots[1:] - knots[:-1])
    padded = torch.cat([s.new_zeros(1), s, s.new_zeros(1)])
    W1 = -torch.ones(1, len(knots), dtype=knots.dtype)
    return W1, knots.clone(), (padded[1:] - padded[:-1]).unsqueeze(1), values[:1].clone()

# %% q5: output weights with the sign of the right-facing construction (s_(k-1) - s_k)
def interp_relu_params(knots, values):
    s = (values[1:] - values[:-1]) / (knots[1:] - knots[:-1])
    padded = torch.cat([s.new_zeros(1), s, s.new_zeros(1)])
    W1 = -torch.ones(1, len(knots), dtype=knots.dtype)
    return W1, knots.clone(), (padded[:-1] - padded[1:]).unsqueeze(1), values[-1:].clone()

# %% q6: calls .backward() without zeroing, so earlier .grad values are added in
def grad_weight_ratios(net, X, y):
    F.cross_entropy(net(X), y).backward()
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return torch.stack([m.weight.grad.norm() / m.weight.norm() for m in linears]).detach()

# %% q6: includes the biases, since it loops over net.parameters()
def grad_weight_ratios(net, X, y):
    params = list(net.parameters())
    grads = torch.autograd.grad(F.cross_entropy(net(X), y), params)
    return torch.stack([g.norm() / p.norm() for g, p in zip(grads, params)]).detach()

# %% q7: forgets optimizer.zero_grad(), so gradients accumulate over the whole run
def train_mlp(X, y, num_hiddens, num_epochs, lr, weight_decay, batch_size, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), num_hiddens), nn.LeakyReLU(0.1),
                        nn.Linear(num_hiddens, num_hiddens), nn.LeakyReLU(0.1), nn.Linear(num_hiddens, 10))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(num_epochs):
        idx = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            batch = idx[start : start + batch_size]
            F.cross_entropy(net(X[batch]), y[batch]).backward()
            optimizer.step()
    return net

# %% q7: plain Adam that never uses the weight_decay argument
def train_mlp(X, y, num_hiddens, num_epochs, lr, weight_decay, batch_size, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), num_hiddens), nn.LeakyReLU(0.1),
                        nn.Linear(num_hiddens, num_hiddens), nn.LeakyReLU(0.1), nn.Linear(num_hiddens, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(num_epochs):
        idx = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            batch = idx[start : start + batch_size]
            loss = F.cross_entropy(net(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net

# %% q7: one hidden layer only, as in the lecture's network
def train_mlp(X, y, num_hiddens, num_epochs, lr, weight_decay, batch_size, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), num_hiddens), nn.LeakyReLU(0.1),
                        nn.Linear(num_hiddens, 10))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(num_epochs):
        idx = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            batch = idx[start : start + batch_size]
            loss = F.cross_entropy(net(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net

# %% q8: counts the weights but forgets the biases
answers = {"a": 0.5, "b": 784 * 256 + 256 * 128 + 128 * 10, "c": "C", "d": 0.5**6}

# %% q8: takes sigmoid's own maximum slope 1/4, ignoring the factor 2 inside
answers = {"a": 0.25, "b": 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, "c": "C", "d": 0.5**6}

# %% q1: softplus' as exp(x) / (1 + exp(x)), which is inf / inf = nan once exp overflows
def activation_grad(name, x):
    if name == "leaky_relu":
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, 0.1))
    if name == "softplus":
        return torch.exp(x) / (1 + torch.exp(x))
    c = math.sqrt(2 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)

# %% q3: softmax written as exp(O) / sum(exp(O)) without subtracting the row maximum (overflows)
def mlp_backward(X, y, O, cache, params, weight_decay):
    slope = lambda Z: torch.where(Z > 0, torch.ones_like(Z), torch.full_like(Z, 0.1))
    E = torch.exp(O)
    G = (E / E.sum(dim=1, keepdim=True) - F.one_hot(y, O.shape[1]).to(O.dtype)) / len(y)
    grads = {"W3": G.T @ cache["H2"] + weight_decay * params["W3"], "b3": G.sum(dim=0)}
    G = (G @ params["W3"]) * slope(cache["Z2"])
    grads["W2"], grads["b2"] = G.T @ cache["H1"] + weight_decay * params["W2"], G.sum(dim=0)
    G = (G @ params["W2"]) * slope(cache["Z1"])
    grads["W1"], grads["b1"] = G.T @ X + weight_decay * params["W1"], G.sum(dim=0)
    return grads

# %% q4: differentiates the caller's own tensors (requires_grad_ on params), leaving .grad on them
def autograd_grads(X, y, params, weight_decay):
    for p in params.values():
        p.requires_grad_(True)
    H1 = F.leaky_relu(F.linear(X, params["W1"], params["b1"]), 0.1)
    H2 = F.leaky_relu(F.linear(H1, params["W2"], params["b2"]), 0.1)
    loss = F.cross_entropy(F.linear(H2, params["W3"], params["b3"]), y)
    (loss + weight_decay / 2 * sum((params[k] ** 2).sum() for k in ("W1", "W2", "W3"))).backward()
    return {k: p.grad.clone() for k, p in params.items()}

# %% q6: looks only at the top-level children (for m in net), missing Linear layers inside nested modules
def grad_weight_ratios(net, X, y):
    weights = [m.weight for m in net.children() if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(F.cross_entropy(net(X), y), weights)
    return torch.stack([g.norm() / w.norm() for g, w in zip(grads, weights)]).detach()

# %% q6: returns the ratios still attached to the graph (requires_grad), which matplotlib cannot plot
def grad_weight_ratios(net, X, y):
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(F.cross_entropy(net(X), y), weights)
    return torch.stack([g.norm() / w.norm() for g, w in zip(grads, weights)])

# %% q7: draws one random order before the epochs and reuses it in every epoch
def train_mlp(X, y, num_hiddens, num_epochs, lr, weight_decay, batch_size, generator):
    net = nn.Sequential(nn.Flatten(), nn.Linear(X[0].numel(), num_hiddens), nn.LeakyReLU(0.1),
                        nn.Linear(num_hiddens, num_hiddens), nn.LeakyReLU(0.1), nn.Linear(num_hiddens, 10))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    idx = torch.randperm(len(X), generator=generator)
    for _ in range(num_epochs):
        for start in range(0, len(X), batch_size):
            batch = idx[start : start + batch_size]
            optimizer.zero_grad()
            F.cross_entropy(net(X[batch]), y[batch]).backward()
            optimizer.step()
    return net

# %% q1: lets autograd differentiate (torch.autograd.grad), which the prompt forbids
def activation_grad(name, x):
    f = {"leaky_relu": lambda t: F.leaky_relu(t, 0.1), "softplus": F.softplus,
         "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[name]
    xr = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(xr).sum(), xr)
    return grad

# %% q3: rebuilds the forward pass on copies and calls .backward(), which the prompt forbids
def mlp_backward(X, y, O, cache, params, weight_decay):
    leaves = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    H = F.leaky_relu(F.linear(X, leaves["W1"], leaves["b1"]), 0.1)
    H = F.leaky_relu(F.linear(H, leaves["W2"], leaves["b2"]), 0.1)
    loss = F.cross_entropy(F.linear(H, leaves["W3"], leaves["b3"]), y)
    (loss + weight_decay / 2 * sum((leaves[k] ** 2).sum() for k in ("W1", "W2", "W3"))).backward()
    return {k: v.grad for k, v in leaves.items()}
