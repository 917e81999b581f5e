# The DQN tutorial's optimization step on a toy environment: a replay memory of
# namedtuples in a deque sampled by a seeded random.Random, epsilon-greedy actions by
# max(1).indices.view(1, 1) under no_grad, the batch transposed with zip(*...), a mask of
# non-final states, Q(s, a) by gather, V(s') from a target net's max(1).values under no_grad
# written into zeros through the mask, smooth_l1_loss, AdamW(amsgrad=True),
# clip_grad_value_, and a soft target update by a state-dict loop; then a double-DQN
# target and a Huber loss with per-sample importance weights.
import math
import random
from collections import deque, namedtuple
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)
rnd = random.Random(5)
Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return rnd.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, n_observations, n_actions):
        super().__init__()
        self.layer1 = nn.Linear(n_observations, 16)
        self.layer2 = nn.Linear(16, 16)
        self.layer3 = nn.Linear(16, n_actions)

    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = F.relu(self.layer2(x))
        return self.layer3(x)


BATCH_SIZE, GAMMA, EPS_START, EPS_END, EPS_DECAY, TAU, LR = 8, 0.99, 0.9, 0.05, 20, 0.005, 1e-3
n_obs, n_actions = 4, 2
policy_net, target_net = DQN(n_obs, n_actions), DQN(n_obs, n_actions)
target_net.load_state_dict(policy_net.state_dict())
optimizer = torch.optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
memory = ReplayMemory(100)
steps_done = 0


def select_action(state):
    global steps_done
    sample = rnd.random()
    eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1.0 * steps_done / EPS_DECAY)
    steps_done += 1
    if sample > eps_threshold:
        with torch.no_grad():
            return policy_net(state).max(1).indices.view(1, 1)
    return torch.tensor([[rnd.randrange(n_actions)]], dtype=torch.long)


def env_step(state, action):
    nxt = state * 0.9 + (action.float() - 0.5) * 0.3 + torch.randn(1, n_obs) * 0.05
    done = bool(nxt.abs().max() > 1.2)
    return nxt, torch.tensor([1.0 - nxt.abs().mean().item()]), done


def optimize_model():
    if len(memory) < BATCH_SIZE:
        return None
    transitions = memory.sample(BATCH_SIZE)
    batch = Transition(*zip(*transitions))
    non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)), dtype=torch.bool)
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)
    state_action_values = policy_net(state_batch).gather(1, action_batch)
    next_state_values = torch.zeros(BATCH_SIZE)
    with torch.no_grad():
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
    expected_state_action_values = (next_state_values * GAMMA) + reward_batch
    criterion = nn.SmoothL1Loss()
    loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
    optimizer.step()
    return loss.item()


for episode in range(3):
    state = torch.randn(1, n_obs) * 0.1
    total = 0.0
    for t in range(12):
        action = select_action(state)
        observation, reward, done = env_step(state, action)
        next_state = None if done else observation
        memory.push(state, action, next_state, reward)
        state = observation
        loss = optimize_model()
        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[key] * (1 - TAU)
        target_net.load_state_dict(target_net_state_dict)
        total += reward.item()
        if done:
            break
    print(episode, t, round(total, 4), None if loss is None else round(loss, 6), len(memory))
print(policy_net.layer3.bias.detach(), target_net.layer3.bias, steps_done)
print(optimizer.state[policy_net.layer3.weight]["max_exp_avg_sq"].sum().item())

# double DQN with prioritized-replay style weights
batch = memory.sample(BATCH_SIZE)
states = torch.cat([b.state for b in batch])
next_states = torch.cat([b.state if b.next_state is None else b.next_state for b in batch])
actions = torch.cat([b.action for b in batch]).squeeze(1)
rewards = torch.cat([b.reward for b in batch])
dones = torch.tensor([b.next_state is None for b in batch])
weights = torch.linspace(0.5, 1.0, BATCH_SIZE)
q = policy_net(states)
q_sa = q[torch.arange(BATCH_SIZE), actions]
with torch.no_grad():
    best = policy_net(next_states).argmax(1, keepdim=True)
    target = rewards + GAMMA * target_net(next_states).gather(1, best).squeeze(1) * (~dones).float()
td = target - q_sa
loss = (weights * F.huber_loss(q_sa, target, reduction="none", delta=0.5)).mean()
optimizer.zero_grad()
loss.backward()
nn.utils.clip_grad_value_(policy_net.parameters(), clip_value=0.01)
print(round(loss.item(), 6), td.detach().abs(), policy_net.layer1.weight.grad.abs().max().item())
print(max(p.grad.abs().max().item() for p in policy_net.parameters()) <= 0.01, q.grad_fn.name())
print("done")
