#pragma once
// The management commands the emulator runs (docs/protocols.md, "Management commands and results",
// "Queued ingestion and its status"):
//
//   .create table T (a:string, b:long) [with (folder='f', docstring='d')]
//   .create-merge table T (...)            .drop table T [ifexists]
//   .show tables                           .show table T cslschema
//   .show databases                        .show version
//   .create|.create-or-alter table T ingestion json|csv mapping 'name' '<json>'
//   .show table T ingestion [json|csv] mappings
//   .drop table T ingestion json|csv mapping 'name'
//   .alter[-merge] table|database X policy streamingingestion enable|disable|'<json>'
//   .delete table|database X policy streamingingestion
//   .show table|database X policy streamingingestion
//   .show ingestion failures
//   .get|.show ingestion resources [with (...)]      .get kusto identity token
//
// Mapping literals may be '...', "..." or ```...```; names may be bare or ['quoted'].

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "results.hpp"

namespace hub2kusto::kusto_emulator {

// What the data management side answers to .get ingestion resources and the identity token.
struct DataManagementInfo {
  std::vector<std::pair<std::string, std::string>> resources; // (ResourceTypeName, StorageRoot)
  std::string identity_token;
};

std::variant<ResultTable, ServiceError> run_command(Catalog& catalog, const std::string& database,
                                                    std::string_view text,
                                                    const DataManagementInfo& dm);

} // namespace hub2kusto::kusto_emulator
