#include "omaha_request.h"

#include <pugixml.hpp>
#include <sstream>

namespace basalt::fleet {

std::string BuildOmahaRequest(const OmahaRequest& r) {
  pugi::xml_document doc;
  auto req = doc.append_child("request");
  req.append_attribute("protocol") = "3.0";
  req.append_attribute("version") = r.updater_version.c_str();
  req.append_attribute("updaterversion") = r.updater_version.c_str();
  req.append_attribute("installsource") = r.update_check ? "scheduler" : "";
  req.append_attribute("ismachine") = "1";
  auto os = req.append_child("os");
  os.append_attribute("version") = (r.os_version.empty() ? r.version : r.os_version).c_str();
  os.append_attribute("platform") = r.platform.c_str();
  os.append_attribute("sp") = (r.version + "_" + r.board).c_str();
  auto app = req.append_child("app");
  app.append_attribute("appid") = r.app_id.c_str();
  app.append_attribute("version") = r.version.c_str();
  app.append_attribute("track") = r.track.c_str();
  app.append_attribute("bootid") = r.boot_id.c_str();
  app.append_attribute("oem") = r.oem.c_str();
  app.append_attribute("machineid") = r.machine_id.c_str();
  app.append_attribute("lang") = "en-US";
  app.append_attribute("board") = r.board.c_str();
  app.append_attribute("hardware_class") = "";
  // Basalt deltas are chosen by the static repository, never through Omaha.
  app.append_attribute("delta_okay") = "false";
  if (r.ping) app.append_child("ping").append_attribute("active") = "1";
  if (r.update_check) app.append_child("updatecheck");
  if (r.event) {
    auto ev = app.append_child("event");
    ev.append_attribute("eventtype") = r.event->type;
    ev.append_attribute("eventresult") = r.event->result;
    if (r.event->error_code) ev.append_attribute("errorcode") = *r.event->error_code;
    if (!r.event->previous_version.empty())
      ev.append_attribute("previousversion") = r.event->previous_version.c_str();
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration, pugi::encoding_utf8);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + out.str();
}

}  // namespace basalt::fleet
