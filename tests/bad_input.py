"""Bad token ids that every generation API must refuse at the call, with
the error and the message it must give (the tiny model: 64 tokens, CPU)."""

import torch

BAD_IDS = [
    (torch.tensor([[1, 64]]), ValueError,
     r"holds 64, which is not a token of the model's vocabulary \(0 to 63"),
    (torch.tensor([[-1, 2]]), ValueError, "holds -1, which is not a token"),
    (torch.tensor([[10**6]]), ValueError, "holds 1000000"),
    (torch.tensor([[1, 2]], dtype=torch.uint8), TypeError,
     r"int64 token ids, got dtype torch.uint8.*token_ids.long\(\)"),
    (torch.tensor([[1, 2]], dtype=torch.int16), TypeError, "torch.int16"),
    (torch.tensor([[1, 2]], device="meta"), ValueError,
     r"token_ids are on meta, the model on cpu: use token_ids.to\('cpu'\)"),
    (torch.zeros(0, 3, dtype=torch.long), ValueError,
     r"token_ids is empty \(shape \(0, 3\)\)"),
]
