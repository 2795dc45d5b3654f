"""Known-wrong answers for 07_cnn, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: F.pad's tuple read as (top, bottom, left, right), so rows get the column padding
def conv2d_loops(X, W, b=None, stride=1, padding=0):
    s_r, s_c = pair(stride)
    p_r, p_c = pair(padding)
    num, _, rows, cols = X.shape
    filters, _, k_r, k_c = W.shape
    padded = F.pad(X, (p_r, p_r, p_c, p_c))
    rows_out = (rows + 2 * p_r - k_r) // s_r + 1
    cols_out = (cols + 2 * p_c - k_c) // s_c + 1
    out = torch.zeros(num, filters, rows_out, cols_out, dtype=X.dtype)
    for i in range(rows_out):
        for j in range(cols_out):
            patch = padded[:, :, i * s_r : i * s_r + k_r, j * s_c : j * s_c + k_c]  # (n, c_in, k_r, k_c)
            out[:, :, i, j] = torch.einsum("ncab,ocab->no", patch, W)  # (n, c_out)
    if b is not None:
        out = out + b[None, :, None, None]
    return out

# %% q2: output reshaped as (n, c_out, w_out, h_out), which only works for square outputs
def conv2d_vectorised(X, W, b=None, stride=1, padding=0, dilation=1):
    s_r, s_c = pair(stride)
    p_r, p_c = pair(padding)
    d_r, d_c = pair(dilation)
    num, _, rows, cols = X.shape
    filters, _, k_r, k_c = W.shape
    rows_out = (rows + 2 * p_r - d_r * (k_r - 1) - 1) // s_r + 1
    cols_out = (cols + 2 * p_c - d_c * (k_c - 1) - 1) // s_c + 1
    patches = F.unfold(X, (k_r, k_c), dilation=(d_r, d_c), padding=(p_r, p_c), stride=(s_r, s_c))
    out = torch.einsum("ok,nkl->nol", W.flatten(1), patches)  # (n, c_out, rows_out * cols_out)
    if b is not None:
        out = out + b[None, :, None]
    return out.reshape(num, filters, cols_out, rows_out).transpose(2, 3)

# %% q3: pads with zeros, so padding wins the max when a window's real values are all negative
def max_pool2d(X, kernel_size, stride=None, padding=0):
    k_r, k_c = pair(kernel_size)
    s_r, s_c = pair(kernel_size if stride is None else stride)
    p_r, p_c = pair(padding)
    num, chans, rows, cols = X.shape
    padded = F.pad(X, (p_c, p_c, p_r, p_r))
    rows_out = (rows + 2 * p_r - k_r) // s_r + 1
    cols_out = (cols + 2 * p_c - k_c) // s_c + 1
    st = padded.stride()
    views = padded.as_strided((num, chans, rows_out, cols_out, k_r, k_c),
                              (st[0], st[1], st[2] * s_r, st[3] * s_c, st[2], st[3]))
    return views.flatten(4).max(dim=4).values  # (n, c, rows_out, cols_out)

# %% q4: ignores dilation, using the kernel size where the dilated span d(k-1)+1 belongs
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

# %% q5: multiplies in the layer's own stride before growing the field (j updated first)
def receptive_field(net):
    r, j = 1, 1
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = pair(layer.kernel_size)[0], pair(layer.stride)[0]
            d = pair(getattr(layer, "dilation", 1))[0]
            j *= s
            r += d * (k - 1) * j
    return r

# %% q6: convolutions keep their bias although batch norm follows them (c1 + c2 extra parameters)
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

# %% q7: never clears the gradients, so each step uses the sum of all gradients so far
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

# %% q8: output size without the +1, floor((n + 2p - k) / s)
answers = {"a": (4, 8, 14, 14), "b": 128 * (64 * 3 * 3 + 1), "c": 7, "d": 16 * 32 * 32 * (3 * 3 * 3)}
