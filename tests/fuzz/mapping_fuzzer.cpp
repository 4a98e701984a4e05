// libFuzzer target: arbitrary mapping definitions and event bodies through the engine.
// Input layout: [format byte][flags byte][mapping JSON] 0x00 [event body]. When the mapping
// does not parse (the usual case for random bytes) the body still goes through the identity
// mapping, so both parsers get exercised on every input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mappings/engine.hpp"

namespace {

using namespace hub2kusto::mappings;

constexpr std::string_view kSchema = "a:bool,b:int,c:long,d:real,e:decimal,f:string,g:datetime,"
                                     "h:timespan,i:guid,j:dynamic";
constexpr DataFormat kFormats[] = {DataFormat::json, DataFormat::multijson, DataFormat::singlejson,
                                   DataFormat::csv,  DataFormat::tsv,       DataFormat::tsve,
                                   DataFormat::psv,  DataFormat::scsv,      DataFormat::sohsv,
                                   DataFormat::txt,  DataFormat::raw};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const DataFormat format = kFormats[data[0] % std::size(kFormats)];
  const std::uint8_t flags = data[1];
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t split = rest.find('\0');
  const std::string_view mapping_text = rest.substr(0, split);
  const std::string_view body =
      split == std::string_view::npos ? std::string_view{} : rest.substr(split + 1);

  MapperOptions options;
  options.schema = std::move(parse_schema(kSchema)).value();
  options.format = format;
  options.output = (flags & 1) != 0 ? OutputFormat::json : OutputFormat::csv;
  if ((flags & 2) != 0) {
    options.system_properties = {"x-opt-enqueued-time", "x-opt-offset", "x-opt-sequence-number"};
  }
  auto mapping = parse_mapping(mapping_text, mapping_kind_of(format));
  if (mapping) {
    options.mapping = std::move(mapping).value();
  }
  auto mapper = Mapper::create(options);
  if (!mapper) {
    options.mapping.reset();
    mapper = Mapper::create(std::move(options));
    if (!mapper) {
      __builtin_trap(); // the identity mapping of a valid schema must always compile
    }
  }
  const PropertyValue props[] = {PropertyValue::of_datetime(0), PropertyValue::of_text("1"),
                                 PropertyValue::of_integer(7)};
  std::string out = "prefix";
  const auto& outcome = mapper->map({body, props, "fuzz"}, out);
  if (outcome.rejection && out != "prefix") {
    __builtin_trap(); // a rejected event must leave nothing behind
  }
  return 0;
}
