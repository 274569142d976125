//! CPU time and peak memory of a process, read from `/proc` (Linux).

/// A process's CPU time (user + system) in seconds so far, if `/proc` shows it.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start at field 3, so utime (14) and stime (15) are the 12th and 13th of those.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / clock_ticks_per_second())
}

/// A process's peak resident set size in bytes (`VmHWM`), if `/proc` shows it.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// A process's resident set size in bytes now (`VmRSS`), if `/proc` shows it.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// A `/proc/PID/status` field given in kB, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system setting.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Asks a process to stop (SIGTERM), as an operator or an orchestrator would.
pub fn terminate(pid: u32) {
    // SAFETY: kill has no memory effects; a stale pid only yields an error code.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let mut sum = 0u64;
        for round in 0..2_000_000u64 {
            sum = sum.wrapping_add(round * round);
        }
        assert!(sum > 0);
        assert!(cpu_seconds(pid).is_some_and(|seconds| seconds >= 0.0));
        assert!(peak_rss_bytes(pid).is_some_and(|bytes| bytes > 1024 * 1024));
        assert!(rss_bytes(pid).is_some_and(|bytes| bytes > 1024 * 1024));
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}
