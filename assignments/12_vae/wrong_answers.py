"""Known-wrong answers for 12_vae, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: the log-variance ratio with the wrong sign (log sigma_q^2 - log sigma_p^2)
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_p = logvar_p.exp()
    return 0.5 * (logvar_q - logvar_p + (logvar_q.exp() + (mu_q - mu_p) ** 2) / var_p - 1).sum(-1)

# %% q1: the whole KL negated (the sign of the ELBO's KL term carried into the KL itself)
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_p = logvar_p.exp()
    return -0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / var_p - 1).sum(-1)

# %% q1: logvar read as log sigma, so the variance is exp(2 logvar) and the log-variance 2 logvar
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_q, var_p = torch.exp(2 * logvar_q), torch.exp(2 * logvar_p)
    return 0.5 * (2 * logvar_p - 2 * logvar_q + (var_q + (mu_q - mu_p) ** 2) / var_p - 1).sum(-1)

# %% q1: the direction reversed, KL(p || q)
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_q = logvar_q.exp()
    return 0.5 * (logvar_q - logvar_p + (logvar_p.exp() + (mu_q - mu_p) ** 2) / var_q - 1).sum(-1)

# %% q1: averaged over the latent dimensions instead of summed
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_p = logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / var_p - 1).mean(-1)

# %% q1: calls torch.distributions.kl_divergence, which the question forbids
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * logvar_p))
    return torch.distributions.kl_divergence(q, p).sum(-1)

# %% q1: calls torch.distributions.kl.kl_divergence, which the question forbids
from torch.distributions.kl import kl_divergence as _kl
def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * logvar_p))
    return _kl(q, p).sum(-1)

# %% q2: the mean over pixels instead of the sum
def bernoulli_log_likelihood(logits, x):
    per_pixel = x * logits - F.softplus(logits)
    return per_pixel.reshape(per_pixel.shape[0], -1).mean(dim=1)

# %% q2: the textbook formula with log(sigmoid): -inf times 0 gives NaN for confident pixels
def bernoulli_log_likelihood(logits, x):
    p = torch.sigmoid(logits)
    per_pixel = x * torch.log(p) + (1 - x) * torch.log(1 - p)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(dim=1)

# %% q2: sums over dimension 1 only, which is the channel for (batch, 1, 28, 28) images
def bernoulli_log_likelihood(logits, x):
    return (x * logits - F.softplus(logits)).sum(dim=1)

# %% q2: calls F.binary_cross_entropy_with_logits, which the question forbids
def bernoulli_log_likelihood(logits, x):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -bce.reshape(bce.shape[0], -1).sum(dim=1)

# %% q2: calls torch.binary_cross_entropy_with_logits, which the question forbids
def bernoulli_log_likelihood(logits, x):
    bce = torch.binary_cross_entropy_with_logits(logits, x, None, None, 0)
    return -bce.reshape(bce.shape[0], -1).sum(dim=1)

# %% q2: calls F.binary_cross_entropy on sigmoid(logits), which the question forbids
def bernoulli_log_likelihood(logits, x):
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none")
    return -bce.reshape(bce.shape[0], -1).sum(dim=1)

# %% q3: the KL summed over the whole batch and added to every example
def negative_elbo(x, logits, mu, logvar):
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
    nats = reconstruction + kl
    return nats, nats / (x[0].numel() * math.log(2))

# %% q3: the KL averaged over the batch (one number for everybody)
def negative_elbo(x, logits, mu, logvar):
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
    nats = reconstruction + kl
    return nats, nats / (x[0].numel() * math.log(2))

# %% q3: the reconstruction term averaged over pixels instead of summed
def negative_elbo(x, logits, mu, logvar):
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1).mean(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    nats = reconstruction + kl
    return nats, nats / (x[0].numel() * math.log(2))

# %% q3: bits per dimension without the ln 2 (nats per dimension)
def negative_elbo(x, logits, mu, logvar):
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    nats = reconstruction + kl
    return nats, nats / x[0].numel()

# %% q3: D counted over the whole batch (x.numel()) instead of one image
def negative_elbo(x, logits, mu, logvar):
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    nats = reconstruction + kl
    return nats, nats / (x.numel() * math.log(2))

# %% q4: samples drawn with Normal(...).sample(): no reparameterisation, no gradient, not the given generator
def reparameterised_samples(mu, logvar, num_samples, generator):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample((num_samples,))

# %% q4: the right draws, but detached from mu and logvar
def reparameterised_samples(mu, logvar, num_samples, generator):
    eps = torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    return (mu + torch.exp(0.5 * logvar) * eps).detach()

# %% q4: exp(logvar), the variance, used as the standard deviation
def reparameterised_samples(mu, logvar, num_samples, generator):
    eps = torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    return mu + torch.exp(logvar) * eps

# %% q5: the naive log of the mean of exp: underflows to -inf for real log-weights
def iwae_bound(log_px_given_z, log_pz, log_qz):
    log_w = log_px_given_z + log_pz - log_qz
    return torch.log(torch.exp(log_w).mean(dim=0))

# %% q5: log of the sum instead of the mean (forgets the -log K)
def iwae_bound(log_px_given_z, log_pz, log_qz):
    log_w = log_px_given_z + log_pz - log_qz
    top = log_w.max(dim=0).values
    return top + torch.log(torch.exp(log_w - top).sum(dim=0))

# %% q5: the mean of the log-weights (the ELBO estimate), not the log of the mean weight
def iwae_bound(log_px_given_z, log_pz, log_qz):
    return (log_px_given_z + log_pz - log_qz).mean(dim=0)

# %% q5: calls torch.logsumexp, which the question forbids
def iwae_bound(log_px_given_z, log_pz, log_qz):
    log_w = log_px_given_z + log_pz - log_qz
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])

# %% q5: calls the method .logsumexp, which the question forbids
def iwae_bound(log_px_given_z, log_pz, log_qz):
    log_w = log_px_given_z + log_pz - log_qz
    return log_w.logsumexp(dim=0) - math.log(log_w.shape[0])

# %% q5: calls torch.special.logsumexp, which the question forbids
def iwae_bound(log_px_given_z, log_pz, log_qz):
    log_w = log_px_given_z + log_pz - log_qz
    return torch.special.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])

# %% q6: truncates x * (L - 1) with .long() instead of rounding to the nearest level
def categorical_log_likelihood(logits, x, num_levels):
    levels = (x * (num_levels - 1)).long().unsqueeze(1)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return log_probs.gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q6: softmax written with exp and no max subtraction: overflows for large logits
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    e = torch.exp(logits)
    log_probs = torch.log(e / e.sum(dim=1, keepdim=True))
    return log_probs.gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q6: the mean over pixels instead of the sum
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return log_probs.gather(1, levels).squeeze(1).reshape(x.shape[0], -1).mean(1)

# %% q6: calls F.cross_entropy, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long()
    return -F.cross_entropy(logits, levels, reduction="none").reshape(x.shape[0], -1).sum(1)

# %% q6: calls F.nll_loss on a hand-made log-softmax, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long()
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -F.nll_loss(log_probs, levels, reduction="none").reshape(x.shape[0], -1).sum(1)

# %% q6: calls F.log_softmax, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    return F.log_softmax(logits, dim=1).gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q6: calls torch.log_softmax, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    return torch.log_softmax(logits, dim=1).gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q6: calls torch.special.log_softmax, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    return torch.special.log_softmax(logits, 1).gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q6: calls the method .log_softmax, which the question forbids
def categorical_log_likelihood(logits, x, num_levels):
    levels = torch.round(x * (num_levels - 1)).long().unsqueeze(1)
    return logits.log_softmax(dim=1).gather(1, levels).squeeze(1).reshape(x.shape[0], -1).sum(1)

# %% q7: the reconstruction term averaged over pixels: the KL dominates and the posterior collapses
def train_vae(net, X, num_steps, batch_size=128, lr=2e-3, generator=None):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    while len(losses) < num_steps:
        perm = torch.randperm(len(X), generator=generator)
        for i in range(0, len(X), batch_size):
            Xb = X[perm[i:i + batch_size]]
            logits, mu, logvar = net(Xb)
            loss = F.binary_cross_entropy_with_logits(logits, Xb) + (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == num_steps:
                break
    return losses

# %% q7: the KL summed over the minibatch while the reconstruction is averaged (KL weighted by the batch size)
def train_vae(net, X, num_steps, batch_size=128, lr=2e-3, generator=None):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    while len(losses) < num_steps:
        perm = torch.randperm(len(X), generator=generator)
        for i in range(0, len(X), batch_size):
            Xb = X[perm[i:i + batch_size]]
            logits, mu, logvar = net(Xb)
            reconstruction = F.binary_cross_entropy_with_logits(logits, Xb, reduction="none").sum(1).mean()
            loss = reconstruction + 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == num_steps:
                break
    return losses

# %% q7: one permutation for the whole run instead of a fresh one every epoch
def train_vae(net, X, num_steps, batch_size=128, lr=2e-3, generator=None):
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    perm = torch.randperm(len(X), generator=generator)
    while len(losses) < num_steps:
        for i in range(0, len(X), batch_size):
            Xb = X[perm[i:i + batch_size]]
            logits, mu, logvar = net(Xb)
            reconstruction = F.binary_cross_entropy_with_logits(logits, Xb, reduction="none").sum(1)
            loss = (reconstruction + 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == num_steps:
                break
    return losses

# %% q7: the model left in eval mode (no net.train())
def train_vae(net, X, num_steps, batch_size=128, lr=2e-3, generator=None):
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    while len(losses) < num_steps:
        perm = torch.randperm(len(X), generator=generator)
        for i in range(0, len(X), batch_size):
            Xb = X[perm[i:i + batch_size]]
            logits, mu, logvar = net(Xb)
            reconstruction = F.binary_cross_entropy_with_logits(logits, Xb, reduction="none").sum(1)
            loss = (reconstruction + 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == num_steps:
                break
    return losses
