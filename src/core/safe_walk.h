// SPDX-License-Identifier: Apache-2.0
//
// Opening paths beneath a directory fd without ever leaving it (docs/security.md).
//
// The kernel's openat2(2) does it in one call with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV. Where openat2 is missing (ENOSYS), the path is walked one
// component at a time with O_NOFOLLOW, checking that every step stays on the root's device.
// Either way: no symlink is followed, no ".." is accepted, no mount point is crossed, and every fd
// is close-on-exec.
#pragma once

#include <string>

#include "cgmanager/result.h"
#include "core/sys.h"

namespace cgm {

/// Open `rel` ("a/b/c", or "." for the root itself) beneath `rootfd` with open(2) `flags`.
/// Symlinks, "..", absolute paths and mount crossings fail (ELOOP / EXDEV / EINVAL kinds).
Result<UniqueFd> open_beneath(int rootfd, const std::string& rel, int flags);

/// Force the component-by-component fallback (tests; also the CGM_NO_OPENAT2=1 environment
/// variable, read once).
void set_openat2_disabled(bool disabled);
bool openat2_disabled();

}  // namespace cgm
