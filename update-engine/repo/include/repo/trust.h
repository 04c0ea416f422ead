// What a host trusts for each kind of signed document: the keys and threshold for channels and for
// releases (and payloads), and the repository the documents must name. Built either from one
// keyring (hosts without a root document: every key signs everything) or from a verified root
// (repo/root.h), whose roles keep a leaked channel key from signing releases and vice versa.
#pragma once

#include <cstddef>
#include <string>

#include "common/keyring.h"
#include "repo/root.h"

namespace basalt::repo {

struct Trust {
  Keyring channel_keys;
  size_t channel_threshold = 1;
  Keyring release_keys;
  size_t release_threshold = 1;
  // The root's repository identity; empty when there is no root (documents are then not bound
  // to a repository by name, only by key and release_sha256).
  std::string repository;

  static Trust FromKeyring(const Keyring& keys, size_t threshold);
  // min_threshold (THRESHOLD= of the host's config) may raise a role's threshold, never lower it.
  static Trust FromRoot(const Root& root, size_t min_threshold);
};

}  // namespace basalt::repo
