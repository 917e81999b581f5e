# The "translation with a sequence to sequence network and attention" tutorial in small:
# an EncoderRNN (Embedding, dropout, batch_first GRU) over padded source batches, a
# Bahdanau-attention decoder (Wa/Ua/Va, bmm of the weights with the encoder's keys,
# padding masked_fill'ed to -inf before the softmax) unrolled one token at a time with
# teacher forcing or its own topk(1) prediction detached, NLLLoss over log_softmax with
# ignore_index, two optimizers, and greedy decoding that records the attention map.
import random
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)
rnd = random.Random(3)
SOS, EOS, PAD, V_IN, V_OUT, H, MAX = 1, 2, 0, 11, 9, 12, 6


class EncoderRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V_IN, H, padding_idx=PAD)
        self.gru = nn.GRU(H, H, batch_first=True)
        self.dropout = nn.Dropout(0.1)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        return self.gru(embedded)


class BahdanauAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.Wa, self.Ua, self.Va = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, 1)

    def forward(self, query, keys, mask):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        scores = scores.masked_fill(mask.unsqueeze(1), float("-inf"))
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V_OUT, H)
        self.attention = BahdanauAttention()
        self.gru = nn.GRU(2 * H, H, batch_first=True)
        self.out = nn.Linear(H, V_OUT)
        self.dropout = nn.Dropout(0.1)

    def forward(self, encoder_outputs, encoder_hidden, mask, target_tensor=None, teacher=1.0):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS)
        decoder_hidden = encoder_hidden
        decoder_outputs, attentions = [], []
        for i in range(MAX):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs, mask)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None and rnd.random() < teacher:
                decoder_input = target_tensor[:, i].unsqueeze(1)
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = F.log_softmax(torch.cat(decoder_outputs, dim=1), dim=-1)
        return decoder_outputs, decoder_hidden, torch.cat(attentions, dim=1)

    def forward_step(self, input, hidden, encoder_outputs, mask):
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs, mask)
        output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
        return self.out(output), hidden, attn_weights


def batch(n):
    srcs, tgts = [], []
    for _ in range(n):
        length = rnd.randint(2, 5)
        src = [rnd.randint(3, V_IN - 1) for _ in range(length)]
        srcs.append(torch.tensor(src + [EOS]))
        tgts.append(torch.tensor([(t % (V_OUT - 3)) + 3 for t in reversed(src)] + [EOS]))
    src = nn.utils.rnn.pad_sequence(srcs, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(tgts, batch_first=True, padding_value=PAD)
    return src, F.pad(tgt, (0, MAX - tgt.size(1)), value=PAD)


encoder, decoder = EncoderRNN(), AttnDecoderRNN()
enc_opt = torch.optim.Adam(encoder.parameters(), lr=0.01)
dec_opt = torch.optim.Adam(decoder.parameters(), lr=0.01)
criterion = nn.NLLLoss(ignore_index=PAD)
for step in range(6):
    src, tgt = batch(5)
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    encoder_outputs, encoder_hidden = encoder(src)
    decoder_outputs, _, attn = decoder(encoder_outputs, encoder_hidden, src == PAD, tgt, teacher=0.5)
    loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), tgt.view(-1))
    loss.backward()
    enc_opt.step()
    dec_opt.step()
    print(step, tuple(src.shape), round(loss.item(), 5), attn.shape, encoder.embedding.weight.grad[PAD].abs().sum().item())
encoder.eval()
decoder.eval()
with torch.no_grad():
    src, tgt = batch(3)
    encoder_outputs, encoder_hidden = encoder(src)
    decoder_outputs, hidden, attn = decoder(encoder_outputs, encoder_hidden, src == PAD)
    _, topi = decoder_outputs.topk(1)
    decoded_ids = topi.squeeze()
print(src.tolist(), decoded_ids.tolist())
print(attn[0].round(decimals=3), (attn.sum(-1) - 1).abs().max().item() < 1e-5, (attn * (src == PAD).unsqueeze(1)).sum().item())
print("done")
