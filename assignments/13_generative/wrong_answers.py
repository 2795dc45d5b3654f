"""Known-wrong answers for 13_generative, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: discriminator trained with the labels swapped (reals as 0, fakes as 1)
def gan_losses(real_logits, fake_logits):
    def nls(o):
        return torch.clamp(-o, min=0) + torch.log1p(torch.exp(-o.abs()))
    return nls(-real_logits).mean() + nls(fake_logits).mean(), nls(fake_logits).mean()

# %% q1: generator trained on the saturating minimax loss log(1 - sigmoid(D(G(z))))
def gan_losses(real_logits, fake_logits):
    def nls(o):
        return torch.clamp(-o, min=0) + torch.log1p(torch.exp(-o.abs()))
    return nls(real_logits).mean() + nls(-fake_logits).mean(), -nls(-fake_logits).mean()

# %% q1: log(sigmoid(x)) computed naively, which gives inf for large logits
def gan_losses(real_logits, fake_logits):
    loss_D = -torch.log(torch.sigmoid(real_logits)).mean() - torch.log(1 - torch.sigmoid(fake_logits)).mean()
    return loss_D, -torch.log(torch.sigmoid(fake_logits)).mean()

# %% q1: the library's cross-entropy, which the question forbids
def gan_losses(real_logits, fake_logits):
    loss_D = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    return loss_D, F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

# %% q1: softplus from the library, which the question forbids
def gan_losses(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean(), F.softplus(-fake_logits).mean()

# %% q2: alpha-bar indexed off by one (alpha_bars[0] = f(0)/f(0) = 1)
def cosine_schedule(T, s=0.008, max_beta=0.999):
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bars = f[:-1] / f[0]
    betas = torch.clamp(1 - f[1:] / f[:-1], max=max_beta)
    return betas, alpha_bars

# %% q2: alpha_bars from f(t)/f(0) without applying the clip of the betas
def cosine_schedule(T, s=0.008, max_beta=0.999):
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.clamp(1 - f[1:] / f[:-1], max=max_beta)
    return betas, f[1:] / f[0]

# %% q2: betas not clipped
def cosine_schedule(T, s=0.008, max_beta=0.999):
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - f[1:] / f[:-1]
    return betas, torch.cumprod(1 - betas, dim=0)

# %% q3: posterior variance taken as the forward variance of the jump, 1 - alpha_bar_t / alpha_bar_s (beta_t for one step)
def posterior(x0, xt, t, s, alpha_bars):
    ab_t = alpha_bars[t - 1].item()
    ab_s = alpha_bars[s - 1].item() if s > 0 else 1.0
    ratio = ab_t / ab_s
    mean = math.sqrt(ab_s) * (1 - ratio) / (1 - ab_t) * x0 + math.sqrt(ratio) * (1 - ab_s) / (1 - ab_t) * xt
    return mean, 1 - ratio

# %% q3: the one-step formulas used for any s (beta_t in place of 1 - alpha_bar_t / alpha_bar_s)
def posterior(x0, xt, t, s, alpha_bars):
    ab_t = alpha_bars[t - 1].item()
    ab_s = alpha_bars[s - 1].item() if s > 0 else 1.0
    ab_prev = alpha_bars[t - 2].item() if t > 1 else 1.0
    beta = 1 - ab_t / ab_prev
    mean = math.sqrt(ab_s) * beta / (1 - ab_t) * x0 + math.sqrt(1 - beta) * (1 - ab_s) / (1 - ab_t) * xt
    return mean, (1 - ab_s) / (1 - ab_t) * beta

# %% q3: alpha_bar indexed off by one (alpha_bars[t] for alpha_bar_t)
def posterior(x0, xt, t, s, alpha_bars):
    ab = torch.cat([torch.ones(1, dtype=alpha_bars.dtype), alpha_bars])
    ab_t = ab[min(t + 1, len(alpha_bars))].item()
    ab_s = ab[s + 1].item()
    ratio = ab_t / ab_s
    mean = math.sqrt(ab_s) * (1 - ratio) / (1 - ab_t) * x0 + math.sqrt(ratio) * (1 - ab_s) / (1 - ab_t) * xt
    return mean, (1 - ab_s) * (1 - ratio) / (1 - ab_t)

# %% q4: the noise direction dropped (x_s = sqrt(alpha_bar_s) x0_hat only)
def ddim_step(xt, eps_hat, t, s, alpha_bars):
    ab_t = alpha_bars[t - 1].item()
    ab_s = alpha_bars[s - 1].item() if s > 0 else 1.0
    return math.sqrt(ab_s) * (xt - math.sqrt(1 - ab_t) * eps_hat) / math.sqrt(ab_t)

# %% q4: fresh noise added as in ancestral sampling (not deterministic)
def ddim_step(xt, eps_hat, t, s, alpha_bars):
    ab_t = alpha_bars[t - 1].item()
    ab_s = alpha_bars[s - 1].item() if s > 0 else 1.0
    x0_hat = (xt - math.sqrt(1 - ab_t) * eps_hat) / math.sqrt(ab_t)
    return math.sqrt(ab_s) * x0_hat + math.sqrt(1 - ab_s) * torch.randn_like(xt)

# %% q4: alpha_bar_0 taken as alpha_bars[-1] (negative index) when s = 0
def ddim_step(xt, eps_hat, t, s, alpha_bars):
    ab_t = alpha_bars[t - 1].item()
    ab_s = alpha_bars[s - 1].item()
    x0_hat = (xt - math.sqrt(1 - ab_t) * eps_hat) / math.sqrt(ab_t)
    return math.sqrt(ab_s) * x0_hat + math.sqrt(1 - ab_s) * eps_hat

# %% q5: the timestep embedding left out (the network sees only x_t)
def train_x0_denoiser(X, T, num_steps, generator):
    betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
    alpha_bars = torch.cumprod(1 - betas, dim=0)
    proj = 2.0 * torch.randn(2, 64, generator=generator)

    class X0Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("proj", proj)
            self.mlp = nn.Sequential(nn.Linear(2 + 128, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                     nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))

        def forward(self, x, t):
            z = x.float() @ self.proj
            return self.mlp(torch.cat([x.float(), z.sin(), z.cos()], dim=1))

    net = X0Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    ab = alpha_bars.float()
    for step in range(num_steps):
        x0 = X[torch.randint(0, len(X), (256,), generator=generator)].float()
        t = torch.randint(1, T + 1, (256,), generator=generator)
        a = ab[t - 1].unsqueeze(1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=generator)
        loss = (net(xt, t) - x0).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net, alpha_bars

# %% q5: Ho et al.'s schedule for T = 1000 used unchanged with T = 50 steps (alpha_bar_T = 0.60)
def train_x0_denoiser(X, T, num_steps, generator):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bars = torch.cumprod(1 - betas, dim=0)
    proj = 2.0 * torch.randn(2, 64, generator=generator)

    class X0Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("proj", proj)
            self.register_buffer("freqs", torch.exp(-math.log(1000.0) * torch.arange(16) / 16) * 1000 / T)
            self.mlp = nn.Sequential(nn.Linear(2 + 128 + 32, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                     nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))

        def forward(self, x, t):
            z = x.float() @ self.proj
            angle = t.float().unsqueeze(1) * self.freqs
            return self.mlp(torch.cat([x.float(), z.sin(), z.cos(), angle.sin(), angle.cos()], dim=1))

    net = X0Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, num_steps)
    ab = alpha_bars.float()
    for step in range(num_steps):
        x0 = X[torch.randint(0, len(X), (256,), generator=generator)].float()
        t = torch.randint(1, T + 1, (256,), generator=generator)
        a = ab[t - 1].unsqueeze(1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=generator)
        loss = (net(xt, t) - x0).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return net, alpha_bars

# %% q6: overlapping pairs (x_i, x_{i+1}) for every i, which makes the terms dependent and the pairing wrong
def mmd2_linear(X, Y, bandwidths=(0.05, 0.1, 0.2, 0.5, 1.0)):
    p = min(len(X), len(Y))
    X, Y = X[:p].double(), Y[:p].double()

    def k(a, b):
        sq = (a - b).pow(2).sum(dim=1)
        return sum(torch.exp(-sq / (2 * h ** 2)) for h in bandwidths) / len(bandwidths)

    return (k(X[:-1], X[1:]) + k(Y[:-1], Y[1:]) - k(X[:-1], Y[1:]) - k(X[1:], Y[:-1])).mean().item()

# %% q6: the kernels of the bandwidths summed instead of averaged
def mmd2_linear(X, Y, bandwidths=(0.05, 0.1, 0.2, 0.5, 1.0)):
    p = min(len(X), len(Y)) // 2
    x1, x2, y1, y2 = X[0:2 * p:2].double(), X[1:2 * p:2].double(), Y[0:2 * p:2].double(), Y[1:2 * p:2].double()

    def k(a, b):
        sq = (a - b).pow(2).sum(dim=1)
        return sum(torch.exp(-sq / (2 * h ** 2)) for h in bandwidths)

    return (k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)).mean().item()

# %% q6: the full quadratic matrix of distances from torch.cdist, which the question forbids (and which needs O(n^2) memory)
def mmd2_linear(X, Y, bandwidths=(0.05, 0.1, 0.2, 0.5, 1.0)):
    p = min(len(X), len(Y)) // 2
    X, Y = X[:2 * p].double(), Y[:2 * p].double()
    i = torch.arange(p)

    def k(A, B):
        sq = torch.cdist(A, B) ** 2
        return sum(torch.exp(-sq / (2 * h ** 2)) for h in bandwidths) / len(bandwidths)

    return (k(X, X)[2 * i, 2 * i + 1] + k(Y, Y)[2 * i, 2 * i + 1] - k(X, Y)[2 * i, 2 * i + 1] - k(X, Y)[2 * i + 1, 2 * i]).mean().item()
