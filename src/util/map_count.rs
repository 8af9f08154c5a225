//! The one reader of `vm.max_map_count`, which bounds how many stacks a
//! process can map (each guarded stack costs two mappings).

use std::sync::OnceLock;

/// Mappings left for the rest of the program, as QEMU reserves.
const MAP_RESERVE: usize = 5000;

/// Linux's default `vm.max_map_count`, if the file cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65530;

/// The mappings the stacks may use: `vm.max_map_count` less the reserve,
/// read once.
pub(crate) fn spare_mappings() -> usize {
    static SPARE: OnceLock<usize> = OnceLock::new();
    *SPARE.get_or_init(|| {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT);
        max.saturating_sub(MAP_RESERVE)
    })
}
