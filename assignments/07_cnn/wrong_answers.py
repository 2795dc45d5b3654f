"""Known-wrong answers for 07_cnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: ignores dilation, using the kernel size where the dilated span d(k-1)+1 belongs
def output_shape(net, input_shape):
    shape = tuple(input_shape)
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            num, chans, rows, cols = shape
            k, s, p = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
            rows = (rows + 2 * p[0] - k[0]) // s[0] + 1
            cols = (cols + 2 * p[1] - k[1]) // s[1] + 1
            if isinstance(layer, nn.Conv2d):
                chans = layer.out_channels
            shape = (num, chans, rows, cols)
        elif isinstance(layer, nn.Flatten):
            shape = (shape[0], math.prod(shape[1:]))
        elif isinstance(layer, nn.Linear):
            shape = (shape[0], layer.out_features)
    return shape

# %% q2: averages the weight and bias gradients over the batch, as if the loss were a mean over images
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    rows, cols = X.shape[2:]
    windows = F.unfold(X, W.shape[2:], padding=padding, stride=stride)
    dY = grad_Y.flatten(2)
    grad_W = torch.einsum("nol,nkl->ok", dY, windows).reshape(W.shape) / len(X)
    grad_b = dY.sum(dim=2).mean(dim=0)
    d_windows = torch.einsum("ok,nol->nkl", W.flatten(1), dY)
    grad_X = F.fold(d_windows, (rows, cols), W.shape[2:], padding=padding, stride=stride)
    return grad_X, grad_W, grad_b

# %% q2: folds back into the padded size and crops only the top-left padding, so the last rows shift
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    p_r, p_c = pair(padding)
    rows, cols = X.shape[2:]
    windows = F.unfold(X, W.shape[2:], padding=padding, stride=stride)
    dY = grad_Y.flatten(2)
    grad_W = torch.einsum("nol,nkl->ok", dY, windows).reshape(W.shape)
    grad_b = dY.sum(dim=(0, 2))
    d_windows = torch.einsum("ok,nol->nkl", W.flatten(1), dY)
    padded = F.fold(d_windows, (rows + 2 * p_r, cols + 2 * p_c), W.shape[2:], stride=stride)
    grad_X = padded[:, :, 2 * p_r : 2 * p_r + rows, 2 * p_c : 2 * p_c + cols]
    return grad_X, grad_W, grad_b

# %% q2: the library's own backward helpers, torch.nn.grad.conv2d_input and conv2d_weight
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    grad_X = torch.nn.grad.conv2d_input(X.shape, W, grad_Y, stride=stride, padding=padding)
    grad_W = torch.nn.grad.conv2d_weight(X, W.shape, grad_Y, stride=stride, padding=padding)
    return grad_X, grad_W, grad_Y.sum(dim=(0, 2, 3))

# %% q2: autograd through F.conv2d instead of the chain rule by hand
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    X_leaf = X.detach().clone().requires_grad_(True)
    W_leaf = W.detach().clone().requires_grad_(True)
    b_leaf = torch.zeros(W.shape[0], dtype=X.dtype, requires_grad=True)
    Y = F.conv2d(X_leaf, W_leaf, b_leaf, stride=stride, padding=padding)
    return torch.autograd.grad(Y, (X_leaf, W_leaf, b_leaf), grad_Y)

# %% q2: the input gradient as F.conv_transpose2d (right, but the question asks for it by hand)
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    (s_r, s_c), (p_r, p_c) = pair(stride), pair(padding)
    rows, cols = X.shape[2:]
    k_r, k_c = W.shape[2:]
    unread = ((rows + 2 * p_r - k_r) % s_r, (cols + 2 * p_c - k_c) % s_c)
    grad_X = F.conv_transpose2d(grad_Y, W, None, stride, padding, unread)
    windows = F.unfold(X, W.shape[2:], padding=padding, stride=stride)
    grad_W = torch.einsum("nol,nkl->ok", grad_Y.flatten(2), windows).reshape(W.shape)
    return grad_X, grad_W, grad_Y.sum(dim=(0, 2, 3))

# %% q2: Tensor.backward through a hand-written im2col forward pass
def conv2d_backward(X, W, grad_Y, stride=1, padding=0):
    X_leaf = X.detach().clone().requires_grad_(True)
    W_leaf = W.detach().clone().requires_grad_(True)
    b_leaf = torch.zeros(W.shape[0], dtype=X.dtype, requires_grad=True)
    windows = F.unfold(X_leaf, W.shape[2:], padding=padding, stride=stride)
    Y = torch.einsum("ok,nkl->nol", W_leaf.flatten(1), windows) + b_leaf[:, None]
    Y.backward(grad_Y.flatten(2))
    return X_leaf.grad, W_leaf.grad, b_leaf.grad

# %% q3: stamps the flipped filter (mixing up convolution and cross-correlation)
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    s_r, s_c = pair(stride)
    p_r, p_c = pair(padding)
    q_r, q_c = pair(output_padding)
    num, _, rows, cols = X.shape
    _, filters, k_r, k_c = W.shape
    canvas = torch.zeros(num, filters, (rows - 1) * s_r + k_r + q_r, (cols - 1) * s_c + k_c + q_c, dtype=X.dtype)
    for a in range(k_r):
        for e in range(k_c):
            stamp = torch.einsum("nchw,co->nohw", X, W[:, :, k_r - 1 - a, k_c - 1 - e])
            canvas[:, :, a : a + rows * s_r : s_r, e : e + cols * s_c : s_c] += stamp
    out = canvas[:, :, p_r : canvas.shape[2] - p_r, p_c : canvas.shape[3] - p_c]
    if b is not None:
        out = out + b[None, :, None, None]
    return out

# %% q3: puts output_padding on top of the canvas instead of at its bottom and right
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    s_r, s_c = pair(stride)
    p_r, p_c = pair(padding)
    q_r, q_c = pair(output_padding)
    num, _, rows, cols = X.shape
    _, filters, k_r, k_c = W.shape
    canvas = torch.zeros(num, filters, (rows - 1) * s_r + k_r + q_r, (cols - 1) * s_c + k_c + q_c, dtype=X.dtype)
    for a in range(k_r):
        for e in range(k_c):
            stamp = torch.einsum("nchw,co->nohw", X, W[:, :, a, e])
            canvas[:, :, q_r + a : q_r + a + rows * s_r : s_r, q_c + e : q_c + e + cols * s_c : s_c] += stamp
    out = canvas[:, :, p_r : canvas.shape[2] - p_r, p_c : canvas.shape[3] - p_c]
    if b is not None:
        out = out + b[None, :, None, None]
    return out

# %% q3: F.conv_transpose2d itself
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    return F.conv_transpose2d(X, W, b, stride, padding, output_padding)

# %% q3: F.fold of the stamped columns (question 2's route, forbidden here)
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    (s_r, s_c), (p_r, p_c), (q_r, q_c) = pair(stride), pair(padding), pair(output_padding)
    num, _, rows, cols = X.shape
    _, filters, k_r, k_c = W.shape
    size = ((rows - 1) * s_r - 2 * p_r + k_r + q_r, (cols - 1) * s_c - 2 * p_c + k_c + q_c)
    columns = torch.einsum("cok,ncl->nokl", W.flatten(2), X.flatten(2)).flatten(1, 2)
    out = F.fold(columns, size, (k_r, k_c), padding=padding, stride=stride)
    return out if b is None else out + b[None, :, None, None]

# %% q3: F.conv2d on the zero-stuffed input with the flipped, transposed kernel
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    (s_r, s_c), (p_r, p_c), (q_r, q_c) = pair(stride), pair(padding), pair(output_padding)
    num, chans, rows, cols = X.shape
    k_r, k_c = W.shape[2:]
    stuffed = torch.zeros(num, chans, (rows - 1) * s_r + 1, (cols - 1) * s_c + 1, dtype=X.dtype)
    stuffed[:, :, ::s_r, ::s_c] = X
    stuffed = F.pad(stuffed, (k_c - 1 - p_c, k_c - 1 - p_c + q_c, k_r - 1 - p_r, k_r - 1 - p_r + q_r))
    return F.conv2d(stuffed, W.flip(2, 3).transpose(0, 1), b)

# %% q3: autograd.grad of a hand-written convolution with respect to its input
def conv_transpose2d(X, W, b=None, stride=1, padding=0, output_padding=0):
    (s_r, s_c), (p_r, p_c), (q_r, q_c) = pair(stride), pair(padding), pair(output_padding)
    num, _, rows, cols = X.shape
    _, filters, k_r, k_c = W.shape
    size = ((rows - 1) * s_r - 2 * p_r + k_r + q_r, (cols - 1) * s_c - 2 * p_c + k_c + q_c)
    Z = torch.zeros(num, filters, *size, dtype=X.dtype, requires_grad=True)
    windows = F.unfold(Z, (k_r, k_c), padding=padding, stride=stride)
    Y = torch.einsum("ck,nkl->ncl", W.flatten(1), windows)  # the convolution this layer transposes
    (out,) = torch.autograd.grad(Y, Z, X.flatten(2))
    return out if b is None else out + b[None, :, None, None]

# %% q4: depthwise channel q reads input channel q % c_in instead of q // m (wrong groups order)
def depthwise_separable_conv2d(X, W_depth, W_point, b=None, stride=1, padding=0):
    (s_r, s_c), (p_r, p_c) = pair(stride), pair(padding)
    num, chans, rows, cols = X.shape
    mid, _, k_r, k_c = W_depth.shape
    rows_out = (rows + 2 * p_r - k_r) // s_r + 1
    cols_out = (cols + 2 * p_c - k_c) // s_c + 1
    taps = F.unfold(X, (k_r, k_c), stride=stride, padding=padding).unflatten(1, (1, chans, k_r * k_c))
    depth = (taps * W_depth.reshape(mid // chans, chans, k_r * k_c, 1)).sum(dim=3)  # (n, m, c_in, L)
    out = torch.einsum("oq,nql->nol", W_point.flatten(1), depth.flatten(1, 2))
    if b is not None:
        out = out + b[:, None]
    return out.unflatten(2, (rows_out, cols_out))

# %% q4: F.conv2d with groups=c_in, then a 1x1 F.conv2d (right values, but not from scratch)
def depthwise_separable_conv2d(X, W_depth, W_point, b=None, stride=1, padding=0):
    depth = F.conv2d(X, W_depth, None, stride, padding, groups=X.shape[1])
    return F.conv2d(depth, W_point, b)

# %% q5: convolutions keep their bias although batch norm follows them (c1 + c2 extra parameters)
class SmallCNN(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, c1=16, c2=32, num_hiddens=64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 7 * 7, num_hiddens), nn.ReLU(),
                                  nn.Linear(num_hiddens, num_classes))

    def forward(self, X):
        return self.head(self.features(X))

# %% q6: never clears the gradients, so each step uses the sum of all gradients so far
def train_cnn(net, X, y, num_epochs, lr, batch_size, generator):
    adam = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    epoch_losses = []
    for _ in range(num_epochs):
        loss_sum, seen = 0.0, 0
        for X_batch, y_batch in train.batches(X, y, batch_size, generator=generator):
            batch_loss = F.cross_entropy(net(X_batch), y_batch)
            batch_loss.backward()
            adam.step()
            loss_sum += batch_loss.item() * len(y_batch)
            seen += len(y_batch)
        epoch_losses.append(loss_sum / seen)
    return epoch_losses

# %% q7: output size without the +1, floor((n + 2p - k) / s)
answers = {"a": (4, 8, 14, 14), "b": (4, 3, 30, 30), "c": 64 * 3 * 3 + 64 * 128 + 128, "d": 16 * 32 * 32 * (3 * 3 * 3)}
