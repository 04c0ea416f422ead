// Only a library's include/ is visible to what links it; its src/ is not.
#ifdef BASALT_CONTRACT_BROKEN
#include "omaha_response.h"
#else
#include "fleet/omaha_source.h"
#endif

int ContractPrivateHeader() {
  return 0;
}
