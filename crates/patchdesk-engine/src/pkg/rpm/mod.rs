//! The rpm package family (RHEL, Rocky, AlmaLinux, CentOS Stream, Fedora, Oracle Linux): owns
//! everything PatchDesk knows about rpm and dnf — version order ([`version`]), the family's part
//! of the read-only scan script ([`scan::SCAN_FRAGMENT`]), pure parsers for what rpm hosts print
//! ([`parse`]), the dnf command lines that change a host ([`commands`]) and the planned dnf
//! transaction with the rollout's other rpm commands ([`transaction`]). Must not touch the
//! database or SSH: it turns text into typed facts and facts into text, nothing else.

pub mod commands;
pub mod parse;
pub mod scan;
pub mod transaction;
pub mod version;

pub use version::{Evr, EvrError};
