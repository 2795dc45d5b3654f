"""Known-wrong answers for 05_optimization, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa

# %% q1: momentum as an exponential average, v = mu v + (1 - mu) g, which is not torch's convention
class Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                state = self.state[p]
                if "v" not in state:
                    state["v"] = torch.zeros_like(p)
                v = state["v"]
                v.mul_(mu).add_((1 - mu) * g)
                d = g + mu * v if group["nesterov"] else v
                p -= group["lr"] * d

# %% q1: reads the hyper-parameters from self.defaults, so parameter groups lose their own lr and decay
class Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        hp = self.defaults
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + hp["weight_decay"] * p
                state = self.state[p]
                if "v" not in state:
                    state["v"] = torch.zeros_like(p)
                v = state["v"]
                v.mul_(hp["momentum"]).add_(g)
                d = g + hp["momentum"] * v if hp["nesterov"] else v
                p -= hp["lr"] * d

# %% q2: eps inside the square root (the Keras convention), sqrt(s + eps)
class RMSProp(torch.optim.Optimizer):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            a, mu = group["alpha"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, st = p.grad, self.state[p]
                if not st:
                    st["s"], st["gbar"], st["b"] = torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["s"] = a * st["s"] + (1 - a) * g**2
                var = st["s"]
                if group["centered"]:
                    st["gbar"] = a * st["gbar"] + (1 - a) * g
                    var = var - st["gbar"] ** 2
                step = g / (var + group["eps"]).sqrt()
                if mu > 0:
                    st["b"] = mu * st["b"] + step
                    step = st["b"]
                p -= group["lr"] * step

# %% q2: momentum buffer accumulates the raw gradient and divides by the RMS afterwards
class RMSProp(torch.optim.Optimizer):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            a, mu = group["alpha"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, st = p.grad, self.state[p]
                if not st:
                    st["s"], st["gbar"], st["b"] = torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["s"] = a * st["s"] + (1 - a) * g**2
                var = st["s"]
                if group["centered"]:
                    st["gbar"] = a * st["gbar"] + (1 - a) * g
                    var = var - st["gbar"] ** 2
                r = var.sqrt() + group["eps"]
                if mu > 0:
                    st["b"] = mu * st["b"] + g
                    p -= group["lr"] * st["b"] / r
                else:
                    p -= group["lr"] * g / r

# %% q3: bias-corrects m but forgets to correct v, so the early steps are far too large
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"], st["vmax"] = 0, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                p *= 1 - group["lr"] * group["weight_decay"]
                st["m"] = beta1 * st["m"] + (1 - beta1) * p.grad
                st["v"] = beta2 * st["v"] + (1 - beta2) * p.grad**2
                v = st["v"]
                if group["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v)
                    v = st["vmax"]
                m_hat = st["m"] / (1 - beta1 ** st["t"])
                p -= group["lr"] * m_hat / (v.sqrt() + group["eps"])

# %% q3: off-by-one bias correction, 1 - beta**(t + 1) with t counted from 1
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"], st["vmax"] = 0, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                p *= 1 - group["lr"] * group["weight_decay"]
                st["m"] = beta1 * st["m"] + (1 - beta1) * p.grad
                st["v"] = beta2 * st["v"] + (1 - beta2) * p.grad**2
                v = st["v"]
                if group["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v)
                    v = st["vmax"]
                m_hat = st["m"] / (1 - beta1 ** (st["t"] + 1))
                v_hat = v / (1 - beta2 ** (st["t"] + 1))
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])

# %% q3: weight decay added to the gradient (Adam's L2 penalty) instead of decoupled from it
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"], st["vmax"] = 0, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                g = p.grad + group["weight_decay"] * p
                st["m"] = beta1 * st["m"] + (1 - beta1) * g
                st["v"] = beta2 * st["v"] + (1 - beta2) * g**2
                v = st["v"]
                if group["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v)
                    v = st["vmax"]
                m_hat = st["m"] / (1 - beta1 ** st["t"])
                v_hat = v / (1 - beta2 ** st["t"])
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])

# %% q3: AMSGrad takes the maximum of the bias-corrected v-hat instead of the raw v
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"], st["vmax"] = 0, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                p *= 1 - group["lr"] * group["weight_decay"]
                st["m"] = beta1 * st["m"] + (1 - beta1) * p.grad
                st["v"] = beta2 * st["v"] + (1 - beta2) * p.grad**2
                m_hat = st["m"] / (1 - beta1 ** st["t"])
                v_hat = st["v"] / (1 - beta2 ** st["t"])
                if group["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v_hat)
                    v_hat = st["vmax"]
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])

# %% q4: the restart clock does not start at the end of the warm-up (cycles counted from t = 0)
def warmup_restarts(t, lr_max, warmup_steps, T_0, T_mult=1, start_factor=0.1, lr_min=0.0):
    if t < warmup_steps:
        return lr_max * (start_factor + (1 - start_factor) * t / warmup_steps)
    tau, T = t, T_0
    while tau >= T:
        tau -= T
        T *= T_mult
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * tau / T)) / 2

# %% q4: ignores T_mult, so every cycle lasts T_0 steps
def warmup_restarts(t, lr_max, warmup_steps, T_0, T_mult=1, start_factor=0.1, lr_min=0.0):
    if t < warmup_steps:
        return lr_max * (start_factor + (1 - start_factor) * t / warmup_steps)
    tau = (t - warmup_steps) % T_0
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * tau / T_0)) / 2

# %% q5: forgets optimizer.zero_grad(), so gradients keep accumulating across optimiser steps
def train_loop(net, optimizer, scheduler, loss_fn, X, y, num_epochs, batch_size, generator,
               accum_steps=1):
    out = []
    n_batches = math.ceil(len(X) / batch_size)
    for _ in range(num_epochs):
        for i, (Xb, yb) in enumerate(train.batches(X, y, batch_size, generator=generator)):
            loss = loss_fn(net(Xb), yb)
            (loss / accum_steps).backward()
            out.append(loss.item())
            if (i + 1) % accum_steps == 0 or i + 1 == n_batches:
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
    return out

# %% q5: steps the scheduler after every minibatch instead of after every optimiser step
def train_loop(net, optimizer, scheduler, loss_fn, X, y, num_epochs, batch_size, generator,
               accum_steps=1):
    out = []
    n_batches = math.ceil(len(X) / batch_size)
    for _ in range(num_epochs):
        optimizer.zero_grad()
        for i, (Xb, yb) in enumerate(train.batches(X, y, batch_size, generator=generator)):
            loss = loss_fn(net(Xb), yb)
            (loss / accum_steps).backward()
            out.append(loss.item())
            if (i + 1) % accum_steps == 0 or i + 1 == n_batches:
                optimizer.step()
                optimizer.zero_grad()
            if scheduler is not None:
                scheduler.step()
    return out

# %% q5: back-propagates the unscaled loss, so the accumulated gradient is a sum, not a mean
def train_loop(net, optimizer, scheduler, loss_fn, X, y, num_epochs, batch_size, generator,
               accum_steps=1):
    out = []
    n_batches = math.ceil(len(X) / batch_size)
    for _ in range(num_epochs):
        optimizer.zero_grad()
        for i, (Xb, yb) in enumerate(train.batches(X, y, batch_size, generator=generator)):
            loss = loss_fn(net(Xb), yb)
            loss.backward()
            out.append(loss.item())
            if (i + 1) % accum_steps == 0 or i + 1 == n_batches:
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                optimizer.zero_grad()
    return out

# %% q6: Xavier bound from fan_in alone (LeCun's scale), sqrt(3 / fan_in)
def xavier_uniform(fan_out, fan_in, gain=1.0, generator=None):
    a = gain * math.sqrt(3.0 / fan_in)
    return (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * a

# %% q6: He-uniform with the normal's standard deviation sqrt(2 / fan) as the bound
def he_uniform(fan_out, fan_in, mode="fan_in", generator=None):
    n = fan_in if mode == "fan_in" else fan_out
    return (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * math.sqrt(2.0 / n)

# %% q6: He-uniform ignores mode and always uses fan_in
def he_uniform(fan_out, fan_in, mode="fan_in", generator=None):
    return (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * math.sqrt(6.0 / fan_in)

# %% q7: records the std of the pre-activations (before act)
@torch.no_grad()
def activation_stds(X, weights, act):
    stds = []
    h = X
    for W in weights:
        z = h @ W.T
        stds.append(z.std().item())
        h = act(z)
    return stds

# %% q8: takes 1 / lambda_max (the best rate for the steep direction) as the largest stable rate
reasoning_answers = {"max_lr": 0.125, "momentum_gain": 20.0, "adam_first_step": 1.0, "relu_gain": 0.8}

# %% q1: adds the weight decay into p.grad in place (p.grad.add_), so .grad no longer holds the gradient
class Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add_(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "v" not in state:
                    state["v"] = torch.zeros_like(p)
                v = state["v"].mul_(group["momentum"]).add_(g)
                d = g + group["momentum"] * v if group["nesterov"] else v
                p.add_(d, alpha=-group["lr"])

# %% q2: forgets to square the gradient in s, which can turn negative and make the root nan
class RMSProp(torch.optim.Optimizer):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            alpha = group["alpha"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["s"], st["gbar"], st["b"] = torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["s"].mul_(alpha).add_(p.grad, alpha=1 - alpha)
                if group["centered"]:
                    st["gbar"].mul_(alpha).add_(p.grad, alpha=1 - alpha)
                    r = (st["s"] - st["gbar"] ** 2).sqrt() + group["eps"]
                else:
                    r = st["s"].sqrt() + group["eps"]
                if group["momentum"] > 0:
                    st["b"].mul_(group["momentum"]).add_(p.grad / r)
                    p.add_(st["b"], alpha=-group["lr"])
                else:
                    p.add_(p.grad / r, alpha=-group["lr"])

# %% q3: keeps the learning rate given to __init__ (self.lr), ignoring each group's (and a scheduler's) lr
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))
        self.lr = lr

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr = self.lr
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"], st["vmax"] = 0, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                p.mul_(1 - lr * group["weight_decay"])
                st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                v = st["v"]
                if group["amsgrad"]:
                    torch.maximum(st["vmax"], v, out=st["vmax"])
                    v = st["vmax"]
                denom = (v / (1 - b2 ** st["t"])).sqrt() + group["eps"]
                p.addcdiv_(st["m"] / (1 - b1 ** st["t"]), denom, value=-lr)

# %% q5: records the loss tensors themselves instead of loss.item()
def train_loop(net, optimizer, scheduler, loss_fn, X, y, num_epochs, batch_size, generator,
               accum_steps=1):
    losses = []
    num_batches = math.ceil(len(X) / batch_size)
    for _ in range(num_epochs):
        optimizer.zero_grad()
        for i, (Xb, yb) in enumerate(train.batches(X, y, batch_size, generator=generator), start=1):
            loss = loss_fn(net(Xb), yb)
            losses.append(loss.detach())
            (loss / accum_steps).backward()
            if i % accum_steps == 0 or i == num_batches:
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                optimizer.zero_grad()
    return losses

# %% q7: returns the 0-d std tensors instead of Python floats
@torch.no_grad()
def activation_stds(X, weights, act):
    h, stds = X, []
    for W in weights:
        h = act(h @ W.T)
        stds.append(h.std())
    return stds

# %% q1: subclasses torch.optim.SGD, whose step runs torch.optim.sgd.sgd, which the prompt forbids
class Momentum(torch.optim.SGD):
    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

# %% q2: subclasses torch.optim.RMSprop, whose step runs torch.optim.rmsprop.rmsprop, which the prompt forbids
class RMSProp(torch.optim.RMSprop):
    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered)

# %% q3: subclasses torch.optim.AdamW, whose step runs torch.optim.adam.adam, which the prompt forbids
class AdamW(torch.optim.AdamW):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

# %% q6: fills the weights with torch.nn.init's xavier_uniform_ and kaiming_uniform_, which the prompt forbids
def xavier_uniform(fan_out, fan_in, gain=1.0, generator=None):
    return torch.nn.init.xavier_uniform_(torch.empty(fan_out, fan_in), gain=gain, generator=generator)


def he_uniform(fan_out, fan_in, mode="fan_in", generator=None):
    return torch.nn.init.kaiming_uniform_(torch.empty(fan_out, fan_in), mode=mode, nonlinearity="relu",
                                          generator=generator)
