"""Known-wrong answers for 14_gnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: self-loops forgotten (the self_loop_weight argument is ignored)
def propagation_matrix(edge_index, num_nodes, edge_weight=None, self_loop_weight=1.0, normalization="sym"):
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1])
    A = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    A.index_put_((edge_index[1], edge_index[0]), edge_weight, accumulate=True)
    d = A.sum(1)
    inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    if normalization == "rw":
        return inv[:, None] * A
    return inv.sqrt()[:, None] * A * inv.sqrt()[None, :]

# %% q1: "sym" normalised by rows (D^-1 A~) like "rw", so the matrix is not symmetric
def propagation_matrix(edge_index, num_nodes, edge_weight=None, self_loop_weight=1.0, normalization="sym"):
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1])
    A = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    A.index_put_((edge_index[1], edge_index[0]), edge_weight, accumulate=True)
    A = A + self_loop_weight * torch.eye(num_nodes, dtype=A.dtype)
    d = A.sum(1)
    inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    return inv[:, None] * A

# %% q1: rows as sources (A[source, target]: the missing transpose, messages flow backwards)
def propagation_matrix(edge_index, num_nodes, edge_weight=None, self_loop_weight=1.0, normalization="sym"):
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1])
    A = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    A.index_put_((edge_index[0], edge_index[1]), edge_weight, accumulate=True)
    A = A + self_loop_weight * torch.eye(num_nodes, dtype=A.dtype)
    d = A.sum(1)
    inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    if normalization == "rw":
        return inv[:, None] * A
    return inv.sqrt()[:, None] * A * inv.sqrt()[None, :]

# %% q1: duplicate edges overwrite each other (A[t, s] = w) instead of adding up
def propagation_matrix(edge_index, num_nodes, edge_weight=None, self_loop_weight=1.0, normalization="sym"):
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1])
    A = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    A[edge_index[1], edge_index[0]] = edge_weight
    A = A + self_loop_weight * torch.eye(num_nodes, dtype=A.dtype)
    d = A.sum(1)
    inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    if normalization == "rw":
        return inv[:, None] * A
    return inv.sqrt()[:, None] * A * inv.sqrt()[None, :]

# %% q1: degree ** -0.5 taken directly, so a node without inputs and without self-loop gives inf and nan
def propagation_matrix(edge_index, num_nodes, edge_weight=None, self_loop_weight=1.0, normalization="sym"):
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1])
    A = torch.zeros(num_nodes, num_nodes, dtype=edge_weight.dtype)
    A.index_put_((edge_index[1], edge_index[0]), edge_weight, accumulate=True)
    A = A + self_loop_weight * torch.eye(num_nodes, dtype=A.dtype)
    d = A.sum(1)
    if normalization == "rw":
        return A / d[:, None]
    return d.pow(-0.5)[:, None] * A * d.pow(-0.5)[None, :]

# %% q2: messages collected at the source instead of the target (the direction of the edge reversed)
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    messages = X[edge_index[1]]
    if edge_weight is not None:
        messages = messages * edge_weight.to(X.dtype)[:, None]
    S = edge_index[0][None, :] == torch.arange(N)[:, None]
    if reduce == "max":
        if messages.shape[0] == 0:
            return torch.zeros_like(X)
        best = torch.where(S[:, :, None], messages[None], -math.inf).amax(1)
        return torch.where(S.any(1, keepdim=True), best, torch.zeros_like(best))
    total = S.to(X.dtype) @ messages
    if reduce == "mean":
        return total / S.sum(1, keepdim=True).clamp(min=1)
    return total

# %% q2: max taken over the messages and 0 (masked entries filled with 0 instead of -inf), wrong for negative features
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    messages = X[edge_index[0]]
    if edge_weight is not None:
        messages = messages * edge_weight.to(X.dtype)[:, None]
    S = edge_index[1][None, :] == torch.arange(N)[:, None]
    if reduce == "max":
        if messages.shape[0] == 0:
            return torch.zeros_like(X)
        return torch.where(S[:, :, None], messages[None], torch.zeros((), dtype=X.dtype)).amax(1)
    total = S.to(X.dtype) @ messages
    if reduce == "mean":
        return total / S.sum(1, keepdim=True).clamp(min=1)
    return total

# %% q2: max leaves -inf for nodes without incoming edges
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    messages = X[edge_index[0]]
    if edge_weight is not None:
        messages = messages * edge_weight.to(X.dtype)[:, None]
    S = edge_index[1][None, :] == torch.arange(N)[:, None]
    if reduce == "max":
        if messages.shape[0] == 0:
            return torch.zeros_like(X)
        return torch.where(S[:, :, None], messages[None], -math.inf).amax(1)
    total = S.to(X.dtype) @ messages
    if reduce == "mean":
        return total / S.sum(1, keepdim=True).clamp(min=1)
    return total

# %% q2: mean divided by the total edge weight instead of the number of incoming edges
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    w = torch.ones(edge_index.shape[1], dtype=X.dtype) if edge_weight is None else edge_weight.to(X.dtype)
    messages = X[edge_index[0]] * w[:, None]
    S = edge_index[1][None, :] == torch.arange(N)[:, None]
    if reduce == "max":
        if messages.shape[0] == 0:
            return torch.zeros_like(X)
        best = torch.where(S[:, :, None], messages[None], -math.inf).amax(1)
        return torch.where(S.any(1, keepdim=True), best, torch.zeros_like(best))
    total = S.to(X.dtype) @ messages
    if reduce == "mean":
        weight_in = S.to(X.dtype) @ w
        return total / torch.where(weight_in > 0, weight_in, torch.ones_like(weight_in))[:, None]
    return total

# %% q2: the sum written with index_add_ (forbidden: the question asks for the scatter from scratch)
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    messages = X[edge_index[0]]
    if edge_weight is not None:
        messages = messages * edge_weight.to(X.dtype)[:, None]
    if reduce == "max":
        out = torch.full_like(X, -math.inf).scatter_reduce(0, edge_index[1][:, None].expand_as(messages), messages, reduce="amax")
        return torch.where(torch.isinf(out), torch.zeros_like(out), out)
    total = torch.zeros_like(X).index_add_(0, edge_index[1], messages)
    if reduce == "mean":
        count = torch.zeros(N, dtype=X.dtype).index_add_(0, edge_index[1], torch.ones(len(edge_index[1]), dtype=X.dtype))
        return total / count.clamp(min=1)[:, None]
    return total

# %% q2: the sum as a sparse matrix product with torch.sparse.mm (forbidden)
def aggregate(X, edge_index, edge_weight=None, reduce="sum"):
    N = X.shape[0]
    w = torch.ones(edge_index.shape[1], dtype=X.dtype) if edge_weight is None else edge_weight.to(X.dtype)
    S = edge_index[1][None, :] == torch.arange(N)[:, None]
    if reduce == "max":
        messages = X[edge_index[0]] * w[:, None]
        if messages.shape[0] == 0:
            return torch.zeros_like(X)
        best = torch.where(S[:, :, None], messages[None], -math.inf).amax(1)
        return torch.where(S.any(1, keepdim=True), best, torch.zeros_like(best))
    A = torch.sparse_coo_tensor(edge_index.flip(0), w, (N, N))
    total = torch.sparse.mm(A, X)
    if reduce == "mean":
        return total / S.sum(1, keepdim=True).clamp(min=1)
    return total

# %% q3: one global maximum subtracted instead of each segment's, so a segment far below it underflows to 0/0
def segment_softmax(scores, index, num_segments):
    shifted = torch.exp(scores - scores.max())
    shape = (num_segments,) + tuple(scores.shape[1:])
    sums = torch.zeros(shape, dtype=scores.dtype).index_add(0, index, shifted)
    return shifted / sums[index]

# %% q3: no maximum subtracted at all (exp overflows for large scores)
def segment_softmax(scores, index, num_segments):
    e = torch.exp(scores)
    shape = (num_segments,) + tuple(scores.shape[1:])
    sums = torch.zeros(shape, dtype=scores.dtype).index_add(0, index, e)
    return e / sums[index]

# %% q3: one softmax over all edges, ignoring the segments
def segment_softmax(scores, index, num_segments):
    e = torch.exp(scores - scores.max(0, keepdim=True).values)
    return e / e.sum(0, keepdim=True)

# %% q3: a loop that calls torch.softmax on each segment (forbidden)
def segment_softmax(scores, index, num_segments):
    out = torch.zeros_like(scores)
    for s in range(num_segments):
        members = (index == s).nonzero().flatten()
        if len(members):
            out = out.index_put((members,), torch.softmax(scores[members], dim=0))
    return out

# %% q4: edge endpoints renamed with perm instead of its inverse (right only when perm is its own inverse)
def is_permutation_equivariant(layer, X, edge_index, perm, atol=1e-5):
    out = layer(X, edge_index)
    out_renumbered = layer(X[perm], perm[edge_index])
    if out_renumbered.shape != out.shape:
        return False
    return bool(((out_renumbered - out[perm]).abs() <= atol).all())

# %% q4: returns the 0-dim bool tensor of the comparison instead of a Python bool
def is_permutation_equivariant(layer, X, edge_index, perm, atol=1e-5):
    new_number = torch.argsort(perm)
    out = layer(X, edge_index)
    out_renumbered = layer(X[perm], new_number[edge_index])
    if out_renumbered.shape != out.shape:
        return False
    return ((out_renumbered - out[perm]).abs() <= atol).all()

# %% q4: atol ignored (torch.allclose with its default tolerances)
def is_permutation_equivariant(layer, X, edge_index, perm, atol=1e-5):
    new_number = torch.argsort(perm)
    out = layer(X, edge_index)
    out_renumbered = layer(X[perm], new_number[edge_index])
    if out_renumbered.shape != out.shape:
        return False
    return bool(torch.allclose(out_renumbered, out[perm]))

# %% q5: the 1/2 forgotten, so every undirected edge counts twice
def dirichlet_energy(X, edge_index, edge_weight=None):
    per_edge = ((X[edge_index[1]] - X[edge_index[0]]) ** 2).sum(1)
    if edge_weight is not None:
        per_edge = per_edge * edge_weight.to(X.dtype)
    return per_edge.sum()

# %% q5: edge weights ignored
def dirichlet_energy(X, edge_index, edge_weight=None):
    return ((X[edge_index[1]] - X[edge_index[0]]) ** 2).sum() / 2

# %% q6: gradients zeroed after backward and before the step, so Adam only ever sees weight decay
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best, best_state = [], -1.0, None
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X, A_hat)[train_mask], y[train_mask])
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            acc = (net(X, A_hat).argmax(1)[val_mask] == y[val_mask]).float().mean().item()
        history.append(acc)
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    net.eval()
    return history

# %% q6: the model of the last epoch is kept (the best state is recorded but never loaded)
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best, best_state = [], -1.0, None
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X, A_hat)[train_mask], y[train_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            acc = (net(X, A_hat).argmax(1)[val_mask] == y[val_mask]).float().mean().item()
        history.append(acc)
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
    net.eval()
    return history

# %% q6: the state dict kept without a copy, so the "best" weights are the live ones that keep training
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best, best_state = [], -1.0, None
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X, A_hat)[train_mask], y[train_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            acc = (net(X, A_hat).argmax(1)[val_mask] == y[val_mask]).float().mean().item()
        history.append(acc)
        if acc > best:
            best, best_state = acc, net.state_dict()
    net.load_state_dict(best_state)
    net.eval()
    return history

# %% q6: validation accuracy measured in training mode (dropout still on)
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best, best_state = [], -1.0, None
    net.train()
    for epoch in range(num_epochs):
        loss = F.cross_entropy(net(X, A_hat)[train_mask], y[train_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            acc = (net(X, A_hat).argmax(1)[val_mask] == y[val_mask]).float().mean().item()
        history.append(acc)
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    net.eval()
    return history

# %% q6: the loss over every node's label (validation and test labels leak into training)
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best, best_state = [], -1.0, None
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X, A_hat), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            acc = (net(X, A_hat).argmax(1)[val_mask] == y[val_mask]).float().mean().item()
        history.append(acc)
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    net.eval()
    return history

# %% q6: validation accuracy computed with autograd still recording (no torch.no_grad()), building a graph every epoch for nothing
def train_gcn(net, X, A_hat, y, train_mask, val_mask, num_epochs, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    history, best_acc, best_state = [], -1.0, None
    for epoch in range(num_epochs):
        net.train()
        loss = F.cross_entropy(net(X, A_hat)[train_mask], y[train_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.eval()
        val_acc = (net(X, A_hat).argmax(dim=1)[val_mask] == y[val_mask]).double().mean().item()
        history.append(val_acc)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    net.eval()
    return history
