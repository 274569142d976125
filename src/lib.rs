//! stepstream: runs Amazon States Language state machines the way Express workflows do.
//!
//! The modules read as the pipeline: `asl` (parse and validate) → `compile` (lower to a
//! `Program`) → `vm` (run one execution, suspending instead of blocking) → `exec` (drive an
//! execution to its end with task handlers and a clock).

pub mod alloc;
pub mod asl;
pub mod bench;
pub mod clock;
pub mod compile;
pub mod config;
pub mod exec;
pub mod intrinsics;
pub mod json;
pub mod jsonata;
pub mod kafka;
pub mod logs;
pub mod path;
pub mod pipeline;
pub mod pool;
pub mod tasks;
pub mod telemetry;
pub mod teststate;
pub mod time;
pub mod vm;
