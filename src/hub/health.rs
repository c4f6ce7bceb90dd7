//! The hub's health figures that are not the room's: its own memory, and
//! the tick that sends the console the room's figures every 1.5 s.

use std::sync::Arc;
use std::thread;

use super::events::HEALTH_EVERY;
use super::state::Hub;

/// Resident memory of this process in MiB, to one decimal; 0 where the
/// system will not say.
pub fn resident_mib() -> f64 {
    let bytes = resident_bytes().unwrap_or(0) as f64;
    (bytes / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// Linux: resident pages from `/proc/self/statm`, times the page size
/// (4 KiB on x86_64, often 16 or 64 KiB on aarch64).
#[cfg(target_os = "linux")]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// macOS: the task's resident size from `proc_pidinfo`.
#[cfg(target_os = "macos")]
fn resident_bytes() -> Option<u64> {
    // SAFETY: proc_taskinfo is plain data; zeroes are a valid value.
    let mut info: libc::proc_taskinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_taskinfo>() as libc::c_int;
    // SAFETY: proc_pidinfo writes at most `size` bytes into `info`, which
    // is a proc_taskinfo on this stack frame.
    let got = unsafe {
        libc::proc_pidinfo(
            libc::getpid(),
            libc::PROC_PIDTASKINFO,
            0,
            (&mut info as *mut libc::proc_taskinfo).cast(),
            size,
        )
    };
    (got == size).then_some(info.pti_resident_size)
}

/// Windows: the working set from `K32GetProcessMemoryInfo` (kernel32).
#[cfg(windows)]
fn resident_bytes() -> Option<u64> {
    #[repr(C)]
    struct ProcessMemoryCounters {
        cb: u32,
        page_fault_count: u32,
        peak_working_set_size: usize,
        working_set_size: usize,
        quota_peak_paged_pool_usage: usize,
        quota_paged_pool_usage: usize,
        quota_peak_non_paged_pool_usage: usize,
        quota_non_paged_pool_usage: usize,
        pagefile_usage: usize,
        peak_pagefile_usage: usize,
    }
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetCurrentProcess() -> *mut core::ffi::c_void;
        fn K32GetProcessMemoryInfo(
            process: *mut core::ffi::c_void,
            counters: *mut ProcessMemoryCounters,
            cb: u32,
        ) -> i32;
    }
    let cb = std::mem::size_of::<ProcessMemoryCounters>() as u32;
    // SAFETY: the struct is plain data; zeroes are a valid value.
    let mut counters: ProcessMemoryCounters = unsafe { std::mem::zeroed() };
    counters.cb = cb;
    // SAFETY: the pseudo-handle of the current process needs no closing;
    // the call writes at most `cb` bytes into `counters`.
    let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, cb) };
    (ok != 0).then_some(counters.working_set_size as u64)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn resident_bytes() -> Option<u64> {
    None
}

/// The health tick: the backlog alarm checked, and, while a console
/// watches, the figures sent. Memory is read before the lock is taken.
pub fn start(hub: Arc<Hub>) -> Result<(), String> {
    thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            loop {
                thread::sleep(HEALTH_EVERY);
                hub.room().check_backlogs();
                if hub.room().watched() {
                    let rss = resident_mib();
                    hub.room().publish_health(rss);
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the health tick: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_knows_its_own_memory() {
        let mib = super::resident_mib();
        assert!(mib > 0.0, "{mib}");
    }
}
