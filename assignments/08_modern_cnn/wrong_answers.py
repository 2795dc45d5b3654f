"""Known-wrong answers for 08_modern_cnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: treats the batch mean and variance as constants, so dX misses the paths through them
def batch_norm_backward(dY, X, gamma, eps=1e-5):
    axes = [0, *range(2, X.ndim)]
    shape = [1, -1] + [1] * (X.ndim - 2)
    mean = X.mean(dim=axes, keepdim=True)
    inv_std = 1 / torch.sqrt(X.var(dim=axes, unbiased=False, keepdim=True) + eps)
    X_hat = (X - mean) * inv_std
    return dY * gamma.reshape(shape) * inv_std, (dY * X_hat).sum(dim=axes), dY.sum(dim=axes)

# %% q1: averages the mean-path term over the batch axis only, forgetting height and width
def batch_norm_backward(dY, X, gamma, eps=1e-5):
    axes = [0, *range(2, X.ndim)]
    shape = [1, -1] + [1] * (X.ndim - 2)
    mean = X.mean(dim=axes, keepdim=True)
    inv_std = 1 / torch.sqrt(X.var(dim=axes, unbiased=False, keepdim=True) + eps)
    X_hat = (X - mean) * inv_std
    g = dY * gamma.reshape(shape)
    dX = inv_std * (g - g.mean(dim=0, keepdim=True) - X_hat * (g * X_hat).mean(dim=axes, keepdim=True))
    return dX, (dY * X_hat).sum(dim=axes), dY.sum(dim=axes)

# %% q1: right values, but lets autograd do the backward pass (torch.autograd.grad), which the question forbids
def batch_norm_backward(dY, X, gamma, eps=1e-5):
    axes = [0, *range(2, X.ndim)]
    shape = [1, -1] + [1] * (X.ndim - 2)
    with torch.enable_grad():
        X_, gamma_ = X.detach().clone().requires_grad_(), gamma.detach().clone().requires_grad_()
        beta_ = torch.zeros_like(gamma_, requires_grad=True)
        centred = X_ - X_.mean(dim=axes, keepdim=True)
        Y = centred / torch.sqrt(centred.pow(2).mean(dim=axes, keepdim=True) + eps) * gamma_.reshape(shape) + beta_.reshape(shape)
        dX, dgamma, dbeta = torch.autograd.grad(Y, (X_, gamma_, beta_), dY)
    return dX, dgamma, dbeta

# %% q1: right values, but runs F.batch_norm and calls .backward() on it, which the question forbids
def batch_norm_backward(dY, X, gamma, eps=1e-5):
    with torch.enable_grad():
        X_, gamma_ = X.detach().clone().requires_grad_(), gamma.detach().clone().requires_grad_()
        beta_ = torch.zeros_like(gamma_, requires_grad=True)
        (F.batch_norm(X_, None, None, gamma_, beta_, training=True, eps=eps) * dY).sum().backward()
    return X_.grad, gamma_.grad, beta_.grad

# %% q2: keeps the default momentum, so the statistics are an exponential average, not the plain one
def recompute_bn_stats(net, X, batch_size):
    modes = [(m, m.training) for m in net.modules()]
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_running_stats()
    net.train()
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            net(X[i:i + batch_size])
    for m, mode in modes:
        m.training = mode
    return net

# %% q2: calls net.train(was_training) at the end, which also wakes a frozen BN layer
def recompute_bn_stats(net, X, batch_size):
    was_training = net.training
    layers = [m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            net(X[i:i + batch_size])
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    net.train(was_training)
    return net

# %% q2: right statistics, but calls torch.optim.swa_utils.update_bn, which the question forbids
def recompute_bn_stats(net, X, batch_size):
    modes = [(m, m.training) for m in net.modules()]
    with torch.no_grad():
        torch.optim.swa_utils.update_bn([X[i:i + batch_size] for i in range(0, len(X), batch_size)], net)
    for m, mode in modes:
        m.training = mode
    return net

# %% q3: forgets eps, dividing by sqrt(running_var) instead of sqrt(running_var + eps)
def fold_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.weight.mul_(scale.reshape(-1, 1, 1, 1))
        folded.bias = nn.Parameter(scale * (bias - bn.running_mean) + bn.bias)
    return folded

# %% q3: scales the weights along the input-channel axis (dim 1) instead of per output filter
def fold_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        if folded.weight.shape[1] == scale.shape[0]:
            folded.weight.mul_(scale.reshape(1, -1, 1, 1))
        else:
            folded.weight.mul_(scale.reshape(-1, 1, 1, 1))
        folded.bias = nn.Parameter(scale * (bias - bn.running_mean) + bn.bias)
    return folded

# %% q3: folds with the BN layer as it is (training mode uses the batch statistics), via a probe batch
def fold_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        mean, var = bn.running_mean, bn.running_var
        if bn.training:  # "the statistics the layer would use now"
            probe = conv(torch.randn(8, conv.in_channels, 9, 9, dtype=conv.weight.dtype))
            mean, var = probe.mean(dim=(0, 2, 3)), probe.var(dim=(0, 2, 3), unbiased=False)
        scale = bn.weight / torch.sqrt(var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
        folded.weight.mul_(scale.reshape(-1, 1, 1, 1))
        folded.bias = nn.Parameter(scale * (bias - mean) + bn.bias)
    return folded

# %% q3: right layer, but calls torch.nn.utils.fuse_conv_bn_eval, which the question forbids
def fold_bn(conv, bn):
    return torch.nn.utils.fuse_conv_bn_eval(copy.deepcopy(conv).eval(), copy.deepcopy(bn).eval())

# %% q3: right layer, but calls torch.nn.utils.fusion.fuse_conv_bn_weights, which the question forbids
def fold_bn(conv, bn):
    from torch.nn.utils.fusion import fuse_conv_bn_weights
    folded = copy.deepcopy(conv)
    folded.weight, folded.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return folded

# %% q4: puts the stride on the first 1x1 convolution (the original Caffe ResNet), not on the 3x3
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = 4 * mid_channels
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = F.relu(self.bn2(self.conv2(Y)))
        return F.relu(self.bn3(self.conv3(Y)) + self.shortcut(X))

# %% q5: head only, but computes the features with the body in training mode, so BN's running statistics move
def finetune(pretrained, X, y, num_classes, train_body, num_steps=60, generator=None):
    model = copy.deepcopy(pretrained)
    model[-1] = nn.Linear(model[-1].in_features, num_classes)
    if not train_body:
        for p in model[:-1].parameters():
            p.requires_grad_(False)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=0.05 if not train_body else 2e-3)
    for _ in range(num_steps):
        idx = torch.randint(len(X), (min(50, len(X)),), generator=generator)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()

# %% q5: a learning rate of 1e-4 everywhere: within the budget, but the new head barely learns
def finetune(pretrained, X, y, num_classes, train_body, num_steps=60, generator=None):
    model = copy.deepcopy(pretrained)
    model[-1] = nn.Linear(model[-1].in_features, num_classes)
    body = model[:-1]
    if not train_body:
        body.requires_grad_(False)
        body.eval()
        model[-1].train()
    else:
        model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for _ in range(num_steps):
        idx = torch.randint(len(X), (min(50, len(X)),), generator=generator)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()

# %% q6: rounds log(0.01) / log(0.9) = 43.7 down instead of up for the running-mean steps
reasoning_answers = {"bn_trainable": 512, "steps_to_99": 43, "projection_params": 33280,
                     "final_size": 3, "folded_params": 73856}

# %% q6: counts BN's gamma and beta as still there after folding
reasoning_answers = {"bn_trainable": 512, "steps_to_99": 44, "projection_params": 33280,
                     "final_size": 3, "folded_params": 73984}
