//! The mount daemon: FUSE on top of the VFS core, and the control socket.
//! The only crate that knows fuser.

pub mod daemon;
pub mod fuse;
pub mod peers;
pub mod watch;
