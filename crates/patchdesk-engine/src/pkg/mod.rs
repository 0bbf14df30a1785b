//! Package-manager families. Owns the knowledge of each family (`rpm` here; the Debian code moves
//! behind the same seam when scan, facts and rollout are integrated); must not touch the
//! database or SSH.

pub mod rpm;
