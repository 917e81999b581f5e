"""distgrad's benchmark against PyTorch (SPEC section 4), kept out of the `distgrad`
package: it imports torch, which distgrad itself never does. `python -m distgrad bench`
runs `benchmarks.bench` from the repository checkout.

    model.py          the training step's numbers, the same in every system
    systems.py        numpy, distgrad and distgrad_sharded steps
    groups.py         which systems share a process, and starting them there
    distgrad_parallel.py  distgrad_dp, distgrad_pp, distgrad_pp_zb (SPEC section 5's APIs)
    torch_systems.py  torch_local and torch_rpc (imports torch)
    torch_spmd.py     torch_ddp, torch_tp, torch_pp: 2 gloo ranks each (imports torch)
    runner.py         a system's chunk of timed steps, in its own process
    cpu.py            CPU time of process trees, for the check that systems run alone
    bench.py          the command line, the interleaved schedule and the tables
    torch_rpc_reference.py  an independent torch RPC script, to check the torch_rpc row
    torch_spmd_reference.py independent DDP/TP/pipeline scripts, to check those rows
"""
