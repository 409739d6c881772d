// Package system brings up the whole computer from one file: the APID
// switch with its policy, the LAN, and one QEMU guest per [[guest]], each
// wired to its tenant's sockets on both planes (`spacenet up --config
// system.toml`). Config and Parse read the file (format on Config),
// Resolve loads the policy and LAN configuration it names and places every
// guest on them, Run runs it all until its context is done (restarting a
// guest whose QEMU exits) and leaves nothing running, and Machine builds a
// guest's QEMU command line (also used by internal/vmtest).
//
// It is not a VM manager for disks, snapshots or migration: guests boot a
// kernel and initramfs (scripts/guest-image.sh makes one), under TCG. It
// runs the switches in its own process; `spacenet run` and `spacenet lan
// run` are the same switches run alone.
package system
