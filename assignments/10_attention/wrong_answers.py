"""Known-wrong answers for 10_attention, the mistakes students really make.

`make test` inserts each section into the solution notebook just before that question's
`grader.check` cell (as a student's later cell would redefine the answer), grades the result
through the Gradescope zip, and proves that the question loses points and no other does.
Each section starts with `# %% <question>: <the mistake>`.
"""
# ruff: noqa


def _heads(x, h):
    b, n, d = x.shape
    return x.reshape(b, n, h, d // h).transpose(1, 2)


def _q1_with(query, key, value, h, W, bias, Wo, bo, kpm, am, *, scale_by=None, after=False, flip=False, layout="rows"):
    b, n_q, d = query.shape
    n_k = key.shape[1]
    if layout == "rows":
        q, k, v = (F.linear(x, w, c) for x, w, c in zip((query, key, value), W.chunk(3), bias.chunk(3)))
    else:  # interleaved: each output feature's q, k, v next to each other
        q = F.linear(query, W.reshape(d, 3, d)[:, 0], bias.reshape(d, 3)[:, 0])
        k = F.linear(key, W.reshape(d, 3, d)[:, 1], bias.reshape(d, 3)[:, 1])
        v = F.linear(value, W.reshape(d, 3, d)[:, 2], bias.reshape(d, 3)[:, 2])
    q, k, v = _heads(q, h), _heads(k, h), _heads(v, h)
    s = q @ k.transpose(-1, -2) / math.sqrt(scale_by or d // h)
    keep = torch.ones(b, 1, n_q, n_k, dtype=torch.bool)
    add = torch.zeros_like(s)
    for m, shape in ((am, (1, 1, n_q, n_k)), (kpm, (b, 1, 1, n_k))):
        if m is None:
            continue
        m = m.reshape(shape)
        if m.dtype == torch.bool:
            keep = keep & (m if flip else ~m)
        else:
            add = add + m
    if after:
        p = torch.softmax(s + add, dim=-1) * keep
    else:
        p = torch.softmax((s + add).masked_fill(~keep, -math.inf), dim=-1)
    out = (p @ v).transpose(1, 2).reshape(b, n_q, d)
    return F.linear(out, Wo, bo), p.mean(1)

# %% q1: the mask applied after the softmax (blocked weights zeroed, the rest not renormalised)
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    return _q1_with(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, after=True)

# %% q1: scores scaled by sqrt(d_model) instead of sqrt(d_head) (the bug nanoGPT fixed)
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    return _q1_with(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, scale_by=query.shape[-1])

# %% q1: boolean masks read as True = allowed (the convention of F.scaled_dot_product_attention)
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    return _q1_with(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, flip=True)

# %% q1: in_proj_weight read as interleaved (q, k, v of each feature side by side) instead of the row blocks [W_q; W_k; W_v]
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    return _q1_with(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, layout="interleaved")

# %% q1: the library's fused kernel F.scaled_dot_product_attention (forbidden), weights computed beside it
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    out, w = _q1_with(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, attn_mask)
    q = _heads(F.linear(query, in_proj_weight.chunk(3)[0], in_proj_bias.chunk(3)[0]), num_heads)
    F.scaled_dot_product_attention(q, q, q)
    return out, w

# %% q1: F.multi_head_attention_forward itself (forbidden)
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    out, w = F.multi_head_attention_forward(query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), query.shape[-1], num_heads,
                                            in_proj_weight, in_proj_bias, None, None, False, 0.0, out_proj_weight, out_proj_bias,
                                            training=False, key_padding_mask=key_padding_mask, attn_mask=attn_mask)
    return out.transpose(0, 1), w

# %% q1: builds an nn.MultiheadAttention, loads the parameters and calls it (forbidden)
def mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask=None, attn_mask=None):
    m = nn.MultiheadAttention(query.shape[-1], num_heads, batch_first=True, dtype=query.dtype)
    with torch.no_grad():
        m.in_proj_weight.copy_(in_proj_weight)
        m.in_proj_bias.copy_(in_proj_bias)
        m.out_proj.weight.copy_(out_proj_weight)
        m.out_proj.bias.copy_(out_proj_bias)
        return m(query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask)

# %% q2: fills blocked scores with -inf and normalises, so a fully blocked row is 0/0 = NaN
def masked_softmax(scores, allowed, dim=-1):
    s = scores.masked_fill(~allowed, -math.inf)
    e = torch.exp(s - s.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)

# %% q2: softmax over all entries first, then the mask (weights no longer sum to 1)
def masked_softmax(scores, allowed, dim=-1):
    e = torch.exp(scores - scores.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True) * allowed

# %% q2: exponentiates the raw scores (no max subtracted), which overflows for scores of 1e4
def masked_softmax(scores, allowed, dim=-1):
    e = torch.exp(scores) * allowed
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))

# %% q2: torch.softmax of the masked scores with NaN replaced (the library softmax the question forbids)
def masked_softmax(scores, allowed, dim=-1):
    return torch.softmax(scores.masked_fill(~allowed, -math.inf), dim=dim).nan_to_num(0.0)

# %% q3: rotates the two halves (x_i, x_{i+d/2}) together (GPT-NeoX layout) instead of adjacent pairs
def rotary(X, positions, base=10000.0):
    d = X.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    a = positions.double()[:, None] * theta
    c, s = a.cos().to(X.dtype), a.sin().to(X.dtype)
    x1, x2 = X[..., : d // 2], X[..., d // 2:]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)

# %% q3: frequencies base**(-i/d) for the i-th pair instead of base**(-2i/d)
def rotary(X, positions, base=10000.0):
    d = X.shape[-1]
    theta = base ** (-torch.arange(d // 2, dtype=torch.float64) / d)
    a = positions.double()[:, None] * theta
    c, s = a.cos().to(X.dtype), a.sin().to(X.dtype)
    e, o = X[..., 0::2], X[..., 1::2]
    return torch.stack([e * c - o * s, e * s + o * c], -1).flatten(-2)

# %% q4: the new query attends over the cached keys only, forgetting to append its own key and value first
def kv_step(x_t, cache, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    b, d = x_t.shape
    q, k, v = ((x_t @ w.T + c).reshape(b, num_heads, 1, d // num_heads) for w, c in zip(in_proj_weight.chunk(3), in_proj_bias.chunk(3)))
    if cache is None:
        K, V = k, v
        new = (k, v)
    else:
        K, V = cache
        new = (torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2))
    p = torch.softmax(q @ K.transpose(-1, -2) / math.sqrt(d // num_heads), -1)
    return (p @ V).reshape(b, d) @ out_proj_weight.T + out_proj_bias, new

# %% q4: splits d_model into (d_head, heads) instead of (heads, d_head), so each "head" mixes features of all heads
def kv_step(x_t, cache, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    b, d = x_t.shape
    q, k, v = ((x_t @ w.T + c).reshape(b, d // num_heads, num_heads).transpose(1, 2)[:, :, None] for w, c in zip(in_proj_weight.chunk(3), in_proj_bias.chunk(3)))
    if cache is not None:
        k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // num_heads), -1)
    return (p @ v).transpose(2, 3).reshape(b, d) @ out_proj_weight.T + out_proj_bias, (k, v)

# %% q4: F.scaled_dot_product_attention over the cache (forbidden)
def kv_step(x_t, cache, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    b, d = x_t.shape
    q, k, v = ((x_t @ w.T + c).reshape(b, num_heads, 1, d // num_heads) for w, c in zip(in_proj_weight.chunk(3), in_proj_bias.chunk(3)))
    if cache is not None:
        k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
    y = F.scaled_dot_product_attention(q, k, v).reshape(b, d)
    return y @ out_proj_weight.T + out_proj_bias, (k, v)

# %% q5: top-p keeps only tokens whose running total stays below top_p, dropping the one that crosses it
def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    z = logits / temperature
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, -math.inf)
    if top_p is not None:
        sz, order = z.sort(dim=-1, descending=True)
        cum = torch.softmax(sz, -1).cumsum(-1)
        sz = sz.masked_fill(cum > top_p, -math.inf)
        sz[..., 0] = sz[..., 0].clone()
        z = torch.full_like(z, -math.inf).scatter(-1, order, sz)
        z = torch.where(torch.isinf(z).all(-1, keepdim=True), logits / temperature, z)
    return torch.softmax(z, -1)

# %% q5: temperature applied after the filtering, to the probabilities (p ** (1/T) without renormalising the top-p set first)
def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    z = logits.clone()
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, -math.inf)
    if top_p is not None:
        sz, order = z.sort(dim=-1, descending=True)
        p = torch.softmax(sz, -1)
        sz = sz.masked_fill(p.cumsum(-1) - p >= top_p, -math.inf)
        z = torch.full_like(z, -math.inf).scatter(-1, order, sz)
    return torch.softmax(z / temperature, -1)

# %% q6: no causal mask, so every position also sees the tokens after it
class TinyCausalLM(TinyCausalLM):
    def forward(self, X):
        n = X.shape[1]
        H = self.embed(X) + self.pos[:n]
        A = self.ln1(H)
        H = H + self.attn(A, A, A, need_weights=False)[0]
        H = H + self.mlp(self.ln2(H))
        return self.head(self.ln_f(H))

# %% q6: forgets the position embeddings, so the block cannot tell where a symbol stood
class TinyCausalLM(TinyCausalLM):
    def forward(self, X):
        n = X.shape[1]
        H = self.embed(X)
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        A = self.ln1(H)
        H = H + self.attn(A, A, A, attn_mask=mask, need_weights=False)[0]
        H = H + self.mlp(self.ln2(H))
        return self.head(self.ln_f(H))

# %% q6: post-LN block (normalises after each residual sum, as in the 2017 paper) instead of pre-LN
class TinyCausalLM(TinyCausalLM):
    def forward(self, X):
        n = X.shape[1]
        H = self.embed(X) + self.pos[:n]
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        H = self.ln1(H + self.attn(H, H, H, attn_mask=mask, need_weights=False)[0])
        H = self.ln2(H + self.mlp(H))
        return self.head(self.ln_f(H))
