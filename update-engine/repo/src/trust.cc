#include "repo/trust.h"

#include <algorithm>

namespace basalt::repo {

Trust Trust::FromKeyring(const Keyring& keys, size_t threshold) {
  Trust t;
  t.channel_keys = keys;
  t.release_keys = keys;
  t.channel_threshold = std::max<size_t>(threshold, 1);
  t.release_threshold = t.channel_threshold;
  return t;
}

Trust Trust::FromRoot(const Root& root, size_t min_threshold) {
  Trust t;
  t.channel_keys = root.KeyringFor(Role::kChannel);
  t.channel_threshold = std::max(root.channel.threshold, min_threshold);
  t.release_keys = root.KeyringFor(Role::kRelease);
  t.release_threshold = std::max(root.release.threshold, min_threshold);
  t.repository = root.repository;
  return t;
}

}  // namespace basalt::repo
