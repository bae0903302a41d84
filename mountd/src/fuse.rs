//! The FUSE layer: translates fuser's requests into calls on the VFS core
//! and its answers into replies. Nothing else happens here.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::peers::{MountId, Peers};
use cortex::ids::InodeNo;
use cortex::tree::{SpecialKind, Timestamp};
use cortex::vfs::{
    Attr, Caller, FileKind, Invalidation, RenameMode, SetAttr, TimeSet, Vfs, VfsError, XattrMode,
};
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

/// How long the kernel may cache names and attributes. The daemon is the
/// only writer of a view and tells the kernel when a change comes from
/// elsewhere (`peers`), so this is long: a warm tree costs no round trips.
const TTL: Duration = Duration::from_secs(3600);

/// A FUSE filesystem over one VFS view.
pub struct CortexFs {
    vfs: Arc<Vfs>,
    runtime: tokio::runtime::Handle,
    /// This mount, among the other mounts of the view.
    id: MountId,
    peers: Arc<Peers>,
    /// The kernel agreed to skip open/release for files (no-open support):
    /// opening then costs no round trip.
    no_open: bool,
    /// The same for directories (opendir/releasedir).
    no_opendir: bool,
}

impl CortexFs {
    /// fsync and fsyncdir: durable means committed to the store, so the
    /// whole view is flushed.
    fn flush_view(&self, reply: ReplyEmpty) {
        empty(reply, self.runtime.block_on(self.vfs.flush()).map(|_| ()));
    }

    pub fn new(
        vfs: Arc<Vfs>,
        runtime: tokio::runtime::Handle,
        id: MountId,
        peers: Arc<Peers>,
    ) -> CortexFs {
        CortexFs { vfs, runtime, id, peers, no_open: false, no_opendir: false }
    }

    /// Tells the view's other mounts, if any, what a successful change
    /// touched. `what` runs only when there is someone to tell.
    fn changed<T, E>(&self, result: &Result<T, E>, what: impl FnOnce() -> Vec<Invalidation>) {
        if result.is_ok() && self.peers.shared() {
            self.peers.changed(self.id, what());
        }
    }

    /// Answers a removal or a rename, telling the view's other mounts what
    /// the VFS says it touched.
    fn removed(&self, reply: ReplyEmpty, result: Result<Vec<Invalidation>, VfsError>) {
        match result {
            Ok(touched) => {
                if self.peers.shared() {
                    self.peers.changed(self.id, touched);
                }
                reply.ok();
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    /// What making the name `name` in `parent` touches.
    fn name_changes(&self, parent: InodeNo, name: &[u8]) -> Vec<Invalidation> {
        let mut out =
            vec![Invalidation::Entry { parent, name: name.to_vec() }, Invalidation::Inode(parent)];
        out.extend(self.vfs.peek(parent, name).map(Invalidation::Inode));
        out
    }
}

thread_local! {
    /// The operation this thread is answering, for the error count.
    static OP: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
}

/// Runs one request's handler. A panic in it (a bug) costs that request,
/// not the daemon and every mount it serves: the handler's reply, dropped
/// as the panic unwinds, answers EIO (fuser does so for any reply not
/// sent), and the panic is logged.
fn guard(op: &'static str, ino: u64, name: Option<&OsStr>, handler: impl FnOnce()) {
    // Everything logged while the request runs (its error, a store
    // failure, a panic) carries the operation, the inode and the name.
    let span = match name {
        Some(name) => tracing::debug_span!("fuse", op, ino, name = %name.to_string_lossy()),
        None => tracing::debug_span!("fuse", op, ino),
    };
    let _in = span.enter();
    OP.set(op);
    let _timer = cortex::metrics::global().fuse.with_label_values(&[op]).start_timer();
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(handler)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(op, "a request panicked and was answered EIO: {what}");
    }
}

/// For tests, in debug builds only: a lookup of the name given in
/// `CORTEX_FAULT_PANIC` panics, so that a test can show that a panic costs
/// one request and nothing else.
#[cfg(debug_assertions)]
fn injected_panic(name: &[u8]) {
    static NAME: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    let wanted = NAME.get_or_init(|| std::env::var_os("CORTEX_FAULT_PANIC"));
    if wanted.as_ref().is_some_and(|w| w.as_bytes() == name) {
        panic!("injected by CORTEX_FAULT_PANIC");
    }
}

fn errno(e: VfsError) -> Errno {
    tracing::debug!(errno = e.errno, "{}", e.message);
    cortex::metrics::global().fuse_errors.with_label_values(&[OP.get()]).inc();
    Errno::from_i32(e.errno)
}

fn caller(req: &Request) -> Caller {
    Caller { uid: req.uid(), gid: req.gid() }
}

fn system_time(t: Timestamp) -> SystemTime {
    if t.sec >= 0 {
        UNIX_EPOCH + Duration::new(t.sec as u64, t.nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs()) + Duration::from_nanos(t.nsec as u64)
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp { sec: d.as_secs() as i64, nsec: d.subsec_nanos() },
        Err(e) => {
            let d = e.duration();
            let mut sec = -(d.as_secs() as i64);
            let mut nsec = d.subsec_nanos();
            if nsec > 0 {
                sec -= 1;
                nsec = 1_000_000_000 - nsec;
            }
            Timestamp { sec, nsec }
        }
    }
}

fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Special(SpecialKind::Fifo) => FileType::NamedPipe,
        FileKind::Special(SpecialKind::Socket) => FileType::Socket,
        FileKind::Special(SpecialKind::CharDevice) => FileType::CharDevice,
        FileKind::Special(SpecialKind::BlockDevice) => FileType::BlockDevice,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino.0),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: system_time(a.atime),
        mtime: system_time(a.mtime),
        ctime: system_time(a.ctime),
        crtime: system_time(a.ctime),
        kind: file_type(a.kind),
        perm: (a.mode & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev as u32,
        flags: 0,
        blksize: 4096,
    }
}

/// The entry that tells the kernel a name is missing (node 0) for as long
/// as the entry's timeout, unless invalidated.
fn missing() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: 4096,
    }
}

fn ino(i: INodeNo) -> InodeNo {
    InodeNo(i.0)
}

fn entry(reply: ReplyEntry, result: Result<Attr, VfsError>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &file_attr(&attr), Generation(0)),
        Err(e) => reply.error(errno(e)),
    }
}

fn empty(reply: ReplyEmpty, result: Result<(), VfsError>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno(e)),
    }
}

fn data(reply: ReplyData, result: Result<Vec<u8>, VfsError>) {
    match result {
        Ok(bytes) => reply.data(&bytes),
        Err(e) => reply.error(errno(e)),
    }
}

fn time_set(t: TimeOrNow) -> TimeSet {
    match t {
        TimeOrNow::Now => TimeSet::Now,
        TimeOrNow::SpecificTime(t) => TimeSet::At(timestamp(t)),
    }
}

impl Filesystem for CortexFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each where the kernel offers it: cached symlink targets, and
        // lookups and readdirs in one directory served in parallel.
        for capability in [InitFlags::FUSE_CACHE_SYMLINKS, InitFlags::FUSE_PARALLEL_DIROPS] {
            let _ = config.add_capabilities(capability);
        }
        self.no_open = config.add_capabilities(InitFlags::FUSE_NO_OPEN_SUPPORT).is_ok();
        self.no_opendir = config.add_capabilities(InitFlags::FUSE_NO_OPENDIR_SUPPORT).is_ok();
        Ok(())
    }

    fn opendir(&self, _req: &Request, i: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        guard("opendir", i.0, None, || {
            if self.no_opendir {
                // As for open: the kernel stops sending opendir, and keeps
                // listings cached (FOPEN_CACHE_DIR) by default.
                return reply.error(Errno::from_i32(libc::ENOSYS));
            }
            match self.vfs.getattr(ino(i)) {
                // The kernel may keep listings: the daemon invalidates a
                // directory when it changes from elsewhere.
                Ok(_) => reply.opened(
                    FileHandle(0),
                    FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
                ),
                Err(e) => reply.error(errno(e)),
            }
        })
    }

    fn destroy(&mut self) {
        guard("destroy", 0, None, || {
            if let Err(e) = self.runtime.block_on(self.vfs.flush()) {
                tracing::error!("flush at unmount failed: {e}");
            }
        })
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        guard("lookup", parent.0, Some(name), || {
            #[cfg(debug_assertions)]
            injected_panic(name.as_bytes());
            match self.vfs.lookup(ino(parent), name.as_bytes()) {
                // A name that is not there is cached as missing, as a local
                // filesystem's dentries are: tools probe many (rg and git
                // look for ignore files in every directory, cargo and
                // Python for their files on search paths), and each probe
                // was a round trip. Whatever makes the name appear from
                // elsewhere invalidates it, as it does names that exist.
                Err(e) if e.errno == libc::ENOENT => reply.entry(&TTL, &missing(), Generation(0)),
                found => entry(reply, found),
            }
        })
    }

    fn forget(&self, _req: &Request, i: INodeNo, nlookup: u64) {
        guard("forget", i.0, None, || {
            self.vfs.forget(ino(i), nlookup);
        })
    }

    fn getattr(&self, _req: &Request, i: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        guard("getattr", i.0, None, || match self.vfs.getattr(ino(i)) {
            Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
            Err(e) => reply.error(errno(e)),
        })
    }

    fn setattr(
        &self,
        req: &Request,
        i: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        guard("setattr", i.0, None, || {
            let set = SetAttr {
                mode: mode.map(|m| m & 0o7777),
                uid,
                gid,
                size,
                atime: atime.map(time_set),
                mtime: mtime.map(time_set),
            };
            let result = self.runtime.block_on(self.vfs.setattr(ino(i), set, caller(req)));
            self.changed(&result, || vec![Invalidation::Inode(ino(i))]);
            match result {
                Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
                Err(e) => reply.error(errno(e)),
            }
        })
    }

    fn readlink(&self, _req: &Request, i: INodeNo, reply: ReplyData) {
        guard("readlink", i.0, None, || {
            data(reply, self.vfs.readlink(ino(i)));
        })
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        guard("mknod", parent.0, Some(name), || {
            let perm = mode & !umask & 0o7777;
            let name = name.as_bytes();
            let result = match SpecialKind::from_mode(mode) {
                Some(kind) => {
                    self.vfs.mknod(ino(parent), name, kind, rdev as u64, perm, caller(req))
                }
                None if mode & libc::S_IFMT == libc::S_IFREG => {
                    self.vfs.create(ino(parent), name, perm, caller(req))
                }
                None => Err(VfsError::new(libc::EINVAL, "unknown file type")),
            };
            self.changed(&result, || self.name_changes(ino(parent), name));
            entry(reply, result);
        })
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        guard("mkdir", parent.0, Some(name), || {
            let perm = mode & !umask & 0o7777;
            let result = self.vfs.mkdir(ino(parent), name.as_bytes(), perm, caller(req));
            self.changed(&result, || self.name_changes(ino(parent), name.as_bytes()));
            entry(reply, result);
        })
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        guard("unlink", parent.0, Some(name), || {
            let result = self.vfs.unlink(ino(parent), name.as_bytes());
            self.removed(reply, result);
        })
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        guard("rmdir", parent.0, Some(name), || {
            let result = self.vfs.rmdir(ino(parent), name.as_bytes());
            self.removed(reply, result);
        })
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        guard("symlink", parent.0, Some(link_name), || {
            let (target, name) = (target.as_os_str().as_bytes(), link_name.as_bytes());
            let result = self.vfs.symlink(ino(parent), name, target, caller(req));
            self.changed(&result, || self.name_changes(ino(parent), name));
            entry(reply, result);
        })
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        guard("rename", parent.0, Some(name), || {
            let mode = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                RenameMode::Exchange
            } else if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                RenameMode::NoReplace
            } else if flags.is_empty() {
                RenameMode::Replace
            } else {
                reply.error(Errno::from_i32(libc::EINVAL)); // RENAME_WHITEOUT
                return;
            };
            let (a, b) = (name.as_bytes(), newname.as_bytes());
            let result = self.vfs.rename(ino(parent), a, ino(newparent), b, mode);
            self.removed(reply, result);
        })
    }

    fn link(
        &self,
        _req: &Request,
        i: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        guard("link", i.0, None, || {
            let result = self.vfs.link(ino(i), ino(newparent), newname.as_bytes());
            self.changed(&result, || self.name_changes(ino(newparent), newname.as_bytes()));
            entry(reply, result);
        })
    }

    fn open(&self, _req: &Request, i: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        guard("open", i.0, None, || {
            if self.no_open {
                // ENOSYS here tells the kernel to stop sending opens at all.
                return reply.error(Errno::from_i32(libc::ENOSYS));
            }
            match self.vfs.getattr(ino(i)) {
                // The page cache stays valid across opens: the daemon invalidates
                // it when a file changes from elsewhere.
                Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
                Err(e) => reply.error(errno(e)),
            }
        })
    }

    fn read(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        guard("read", i.0, None, || {
            data(reply, self.runtime.block_on(self.vfs.read(ino(i), offset, size)));
        })
    }

    fn write(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        guard("write", i.0, None, || {
            let result = self.runtime.block_on(self.vfs.write(ino(i), offset, data));
            self.changed(&result, || vec![Invalidation::Inode(ino(i))]);
            match result {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(errno(e)),
            }
        })
    }

    fn flush(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        guard("flush", i.0, None, || {
            // Nothing to do at close (durability is fsync's), and ENOSYS tells
            // the kernel to stop sending flush: a close costs no round trip.
            reply.error(Errno::from_i32(libc::ENOSYS));
        })
    }

    fn fsync(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        guard("fsync", i.0, None, || {
            self.flush_view(reply);
        })
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        guard("fsyncdir", i.0, None, || {
            self.flush_view(reply);
        })
    }

    fn readdir(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        guard("readdir", i.0, None, || {
            let entries = match self.vfs.readdir(ino(i)) {
                Ok(entries) => entries,
                Err(e) => return reply.error(errno(e)),
            };
            for (index, e) in entries.iter().enumerate().skip(offset as usize) {
                let name = OsStr::from_bytes(&e.name);
                if reply.add(INodeNo(e.ino.0), index as u64 + 1, file_type(e.kind), name) {
                    break;
                }
            }
            reply.ok();
        })
    }

    fn statfs(&self, _req: &Request, i: INodeNo, reply: ReplyStatfs) {
        guard("statfs", i.0, None, || {
            let s = self.vfs.statfs();
            reply.statfs(s.blocks, s.bfree, s.bfree, s.files, s.ffree, s.bsize, s.namelen, s.bsize);
        })
    }

    fn setxattr(
        &self,
        _req: &Request,
        i: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        guard("setxattr", i.0, Some(name), || {
            let mode = match flags {
                0 => XattrMode::Any,
                libc::XATTR_CREATE => XattrMode::Create,
                libc::XATTR_REPLACE => XattrMode::Replace,
                _ => return reply.error(Errno::from_i32(libc::EINVAL)),
            };
            let result = self.vfs.setxattr(ino(i), name.as_bytes(), value, mode);
            self.changed(&result, || vec![Invalidation::Inode(ino(i))]);
            empty(reply, result);
        })
    }

    fn getxattr(&self, _req: &Request, i: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        guard("getxattr", i.0, Some(name), || match self.vfs.getxattr(ino(i), name.as_bytes()) {
            Ok(value) => xattr_reply(reply, &value, size),
            Err(e) => reply.error(errno(e)),
        })
    }

    fn listxattr(&self, _req: &Request, i: INodeNo, size: u32, reply: ReplyXattr) {
        guard("listxattr", i.0, None, || match self.vfs.listxattr(ino(i)) {
            Ok(names) => {
                let mut list = Vec::new();
                for name in names {
                    list.extend_from_slice(&name);
                    list.push(0);
                }
                xattr_reply(reply, &list, size);
            }
            Err(e) => reply.error(errno(e)),
        })
    }

    fn removexattr(&self, _req: &Request, i: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        guard("removexattr", i.0, Some(name), || {
            let result = self.vfs.removexattr(ino(i), name.as_bytes());
            self.changed(&result, || vec![Invalidation::Inode(ino(i))]);
            empty(reply, result);
        })
    }

    fn access(&self, _req: &Request, i: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        guard("access", i.0, None, || {
            // Permission bits are checked by the kernel (default_permissions);
            // here only existence is left to answer.
            empty(reply, self.vfs.getattr(ino(i)).map(|_| ()));
        })
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        guard("create", parent.0, Some(name), || {
            let perm = mode & !umask & 0o7777;
            let result = self.vfs.create(ino(parent), name.as_bytes(), perm, caller(req));
            self.changed(&result, || self.name_changes(ino(parent), name.as_bytes()));
            match result {
                Ok(attr) => reply.created(
                    &TTL,
                    &file_attr(&attr),
                    Generation(0),
                    FileHandle(0),
                    FopenFlags::FOPEN_KEEP_CACHE,
                ),
                Err(e) => reply.error(errno(e)),
            }
        })
    }
}

/// Answers a getxattr/listxattr: the size when asked for it, ERANGE when the
/// caller's buffer is too small, else the bytes.
fn xattr_reply(reply: ReplyXattr, value: &[u8], size: u32) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if value.len() > size as usize {
        reply.error(Errno::from_i32(libc::ERANGE));
    } else {
        reply.data(value);
    }
}
