"""Known-wrong answers for 08_modern_cnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: normalises with the unbiased variance (torch.var's default), not the biased one BN uses
def batch_norm_train(X, gamma, beta, eps=1e-5):
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (X.ndim - 2)
    mean = X.mean(dim=dims)
    var = X.var(dim=dims)
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * X_hat + beta.reshape(shape), mean, var

# %% q2: updates the running variance with the biased batch variance (PyTorch uses the unbiased one)
def update_running_stats(running_mean, running_var, X, momentum=0.1):
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * X.mean(dim=dims))
        running_var.mul_(1 - momentum).add_(momentum * X.var(dim=dims, unbiased=False))
    return running_mean, running_var

# %% q3: forgets eps, dividing by sqrt(running_var) instead of sqrt(running_var + eps)
def fold_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.weight.mul_(scale.reshape(-1, 1, 1, 1))
        folded.bias = nn.Parameter(scale * (bias - bn.running_mean) + bn.bias)
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

# %% q5: off-by-one upper bound for the offsets, so the last row and column offset never occur
def random_crop(X, size, padding, generator=None):
    n, c, h, w = X.shape
    X_pad = F.pad(X, (padding, padding, padding, padding))
    tops = torch.randint(0, h + 2 * padding - size, (n,), generator=generator) if h + 2 * padding > size else torch.zeros(n, dtype=torch.long)
    lefts = torch.randint(0, w + 2 * padding - size, (n,), generator=generator) if w + 2 * padding > size else torch.zeros(n, dtype=torch.long)
    out = torch.stack([X_pad[i, :, t : t + size, l : l + size] for i, (t, l) in enumerate(zip(tops.tolist(), lefts.tolist()))])
    return out

# %% q6: replaces the head first and then freezes every parameter, so the new head is frozen too
def prepare_for_finetuning(net, num_classes, train_body):
    new = copy.deepcopy(net)
    new[-1] = nn.Linear(new[-1].in_features, num_classes)
    if not train_body:
        for p in new.parameters():
            p.requires_grad_(False)
    return new

# %% q7: rounds log(0.01) / log(0.9) = 43.7 down instead of up for the running-mean steps
reasoning_answers = {"bn_trainable": 512, "steps_to_99": 43, "projection_params": 33280,
                     "final_size": 3, "bad_flip": "C"}
