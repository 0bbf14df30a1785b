//! The rpm family's part of the one-round-trip scan script, and the small read-only probes the
//! rollout runs around a change (lock holder, last dnf transaction). Owns the shell text only:
//! it runs nothing itself and must not touch the database or SSH.
//!
//! Contract with the script around it: POSIX `sh`, the variable `prev` holds the state
//! fingerprint of the last stored package snapshot (may be empty), and the whole output starts
//! with `@@PD format 1` and ends with `@@PD end` (the common part). The fragment prints the
//! sections [`super::parse::parse_sections`] reads. It changes nothing on the host: rpm and dnf
//! only query (`--assumeno`, standard input closed), and dnf is told to fail instead of waiting
//! when another dnf holds its lock. Like any dnf query, `check-update` may refresh an expired
//! metadata cache.
//!
//! Unchanged hosts: the fingerprint covers the rpm database (size, mtime to the nanosecond and
//! inode of the sqlite, BDB or NDB files: reads leave them alone; rpm rewrites its sqlite in
//! place, same size and inode, so a change in the same second as the last scan shows only
//! below the second), the content of the cached `repomd.xml`
//! of every repository (root's and the scanning user's dnf cache: it changes exactly when the
//! repository metadata changes) and the dnf/yum configuration that changes what dnf reports
//! (repository files, dnf.conf, vars, the versionlock list). Reboot status and the last update
//! time are sent on every scan.

/// The rpm family's scan fragment. Sections, in order:
/// `rpm-reboot` (+ `-status`): `dnf needs-restarting -r`; `rpm-kernels`: installed kernel
/// packages (for the kernel-newer-than-running rule); `rpm-last-update`: mtime of the rpm
/// database; `state`: the fingerprint; then either `unchanged`, or `rpm-packages` (`rpm -qa`),
/// `rpm-pending` (+ `-status`): `dnf check-update`, `rpm-advisories` (+ `-status`):
/// `dnf updateinfo list`, `rpm-advisory-info` (+ `-status`): `dnf updateinfo info`,
/// `rpm-versionlock` (+ `-status`): `dnf versionlock list`.
///
/// A `-status` section holds the command's last 20 standard-error lines, each prefixed `| `,
/// and then `rc N`, its exit status.
pub const SCAN_FRAGMENT: &str = r#"export LC_ALL=C LANG=C TZ=UTC PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
pd_dnf=$(command -v dnf 2>/dev/null || command -v yum 2>/dev/null || echo dnf)
pd_run() {
pd_sec=$1; shift
exec 3>&1
pd_err=$("$@" </dev/null 2>&1 1>&3 3>&-; echo "rc $?")
exec 3>&-
echo "@@PD $pd_sec-status"
printf '%s\n' "$pd_err" | sed '$d' | tail -n 20 | sed 's/^/| /'
printf '%s\n' "$pd_err" | tail -n 1
}
pd_qf='%{NAME}\t%|EPOCH?{%{EPOCH}}:{}|\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{INSTALLTIME}\n'
echo '@@PD rpm-reboot'
pd_run rpm-reboot "$pd_dnf" -q --assumeno --disablerepo='*' needs-restarting -r
echo '@@PD rpm-kernels'
rpm -q --qf "$pd_qf" kernel-core kernel kernel-uek-core kernel-uek kernel-rt-core </dev/null 2>/dev/null
echo '@@PD rpm-last-update'
echo "mtime $(stat -c %Y /var/lib/rpm/rpmdb.sqlite /var/lib/rpm/rpmdb.sqlite-wal /var/lib/rpm/Packages /var/lib/rpm/Packages.db 2>/dev/null | sort -n | tail -n 1)"
echo '@@PD state'
fp=$( { stat -c '%n %s %y %i' /var/lib/rpm/rpmdb.sqlite /var/lib/rpm/rpmdb.sqlite-wal /var/lib/rpm/Packages /var/lib/rpm/Packages.db 2>/dev/null; cat /var/cache/dnf/*/repodata/repomd.xml /var/tmp/dnf-"$(id -un)"-*/*/repodata/repomd.xml /var/cache/yum/*/*/repomd.xml 2>/dev/null; ls -ln --time-style=full-iso /etc/yum.repos.d /etc/dnf/dnf.conf /etc/yum.conf /etc/dnf/vars /etc/dnf/plugins/versionlock.list /etc/yum/pluginconf.d/versionlock.list 2>/dev/null; } | md5sum | cut -d' ' -f1)
echo "$fp"
if [ -n "$prev" ] && [ "$fp" = "$prev" ]; then
echo '@@PD unchanged'
else
echo '@@PD rpm-packages'
rpm -qa --qf "$pd_qf" </dev/null
echo '@@PD rpm-pending'
pd_run rpm-pending "$pd_dnf" -q --assumeno --setopt=exit_on_lock=True check-update
echo '@@PD rpm-advisories'
pd_run rpm-advisories "$pd_dnf" -q --assumeno --setopt=exit_on_lock=True updateinfo list
echo '@@PD rpm-advisory-info'
pd_run rpm-advisory-info "$pd_dnf" -q --assumeno --setopt=exit_on_lock=True updateinfo info
echo '@@PD rpm-versionlock'
pd_run rpm-versionlock "$pd_dnf" -q --assumeno --disablerepo='*' versionlock list
fi
"#;

/// Who holds the rpm database lock right now: `rpm PID COMMAND-LINE` for the holder of rpm's
/// transaction lock (`/var/lib/rpm/.rpm.lock`, from `/proc/locks`), `dnf PID COMMAND-LINE` for
/// a live owner of dnf's RPMDB lock file. Prints nothing when the database is free. Read-only;
/// parsed by [`super::parse::parse_lock_probe`].
pub const LOCK_PROBE: &str = r#"export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
pd_cmd() { tr '\000' ' ' </proc/"$1"/cmdline 2>/dev/null | cut -c1-200; }
ino=$(stat -c %i /var/lib/rpm/.rpm.lock 2>/dev/null)
if [ -n "$ino" ]; then
for p in $(awk -v i="$ino" '$2 != "->" { n = split($6, a, ":"); if (a[n] == i) print $5 }' /proc/locks 2>/dev/null | sort -u); do
echo "rpm $p $(pd_cmd "$p")"
done
fi
p=$(cat /var/lib/dnf/rpmdb_lock.pid 2>/dev/null)
case $p in ''|*[!0-9]*) ;; *) [ -d /proc/"$p" ] && echo "dnf $p $(pd_cmd "$p")" ;; esac
true
"#;

/// The id of the last dnf transaction (`dnf history info last`), to record in the audit log
/// before and after a change; parsed by [`super::parse::parse_history_last_id`].
pub const HISTORY_LAST: &str =
    "LC_ALL=C dnf -q --assumeno --disablerepo='*' history info last </dev/null 2>&1";
