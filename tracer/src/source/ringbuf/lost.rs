//! The kernel programs' count of events that found the ring buffer full.

use aya::maps::{MapData, MapError, PerCpuArray};

pub struct LostCounter {
    per_cpu: PerCpuArray<MapData, u64>,
}

impl LostCounter {
    pub fn new(per_cpu: PerCpuArray<MapData, u64>) -> Self {
        Self { per_cpu }
    }

    /// Events lost since the programs were loaded, summed over all CPUs.
    pub fn total(&self) -> Result<u64, MapError> {
        Ok(self.per_cpu.get(&0, 0)?.iter().sum())
    }
}
