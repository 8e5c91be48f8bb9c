#pragma once
/// @file
/// Version and git hash of this build, recorded in provenance attributes and benchmark JSON. The
/// hash is refreshed at every build (not only at configure time), so it names the commit that was
/// built.

namespace ksi {
const char* build_version();
const char* build_git_hash();
}  // namespace ksi

#define KSI_VERSION (::ksi::build_version())
#define KSI_GIT_HASH (::ksi::build_git_hash())
