"""Energy: what each action costs and how a node scales it.

- `perfsim.energy.defaults`: the per-action energy table (Horowitz ISSCC 2014 at 45 nm) and
  the operand-delivery, issue and clock-tree terms, each with its source;
- `perfsim.energy.technology`: scaling a 45 nm energy to a device's node;
- `perfsim.energy.prices`: a device's resolved prices and `price` (action counts x energies
  + static power x time), the only place joules are computed.

Nothing is imported here: the hardware schema reads the defaults table, and the prices
read the hardware schema.
"""
