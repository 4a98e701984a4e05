#include "avro.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <avro.h>

namespace hub2kusto::kusto_emulator {
namespace {

// Reads the container file's framing (Avro 1.11 specification, "Object Container Files"):
// magic, the metadata map, the sync marker, then blocks of (record count, byte size, data,
// sync marker) to the very end. Returns the number of records, or why the framing is wrong.
class Framing {
public:
  explicit Framing(std::string_view file) : file_(file) {}

  std::optional<std::string> read(long long& records) {
    if (file_.substr(0, 4) != std::string_view("Obj\x01", 4)) {
      return "it does not start with the Avro magic 'Obj' 1";
    }
    pos_ = 4;
    while (true) { // the metadata map: blocks of key/value pairs, then a zero count
      long long count = 0;
      if (!varint(count)) {
        return "its metadata is cut short";
      }
      if (count == 0) {
        break;
      }
      if (count < 0) { // a negative count is followed by the block's size in bytes
        long long ignored = 0;
        if (!varint(ignored)) {
          return "its metadata is cut short";
        }
        count = -count;
      }
      for (long long i = 0; i < 2 * count; ++i) {
        if (!skip_bytes()) {
          return "its metadata is cut short";
        }
      }
    }
    if (file_.size() - pos_ < 16) {
      return "its sync marker is missing";
    }
    const std::string_view sync = file_.substr(pos_, 16);
    pos_ += 16;
    records = 0;
    while (pos_ < file_.size()) {
      long long count = 0;
      long long size = 0;
      if (!varint(count) || !varint(size) || count < 0 || size < 0 ||
          static_cast<unsigned long long>(size) + 16 > file_.size() - pos_) {
        return "a data block at byte " + std::to_string(pos_) + " is malformed or cut short";
      }
      pos_ += static_cast<std::size_t>(size);
      if (file_.substr(pos_, 16) != sync) {
        return "the data block ending at byte " + std::to_string(pos_) +
               " is not followed by the file's sync marker (another file joined to it?)";
      }
      pos_ += 16;
      records += count;
    }
    return std::nullopt;
  }

private:
  bool varint(long long& out) { // zig-zag encoded long
    unsigned long long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= file_.size()) {
        return false;
      }
      const auto byte = static_cast<unsigned char>(file_[pos_++]);
      value |= static_cast<unsigned long long>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        out = static_cast<long long>(value >> 1) ^ -static_cast<long long>(value & 1);
        return true;
      }
    }
    return false;
  }
  bool skip_bytes() {
    long long n = 0;
    if (!varint(n) || n < 0 || static_cast<unsigned long long>(n) > file_.size() - pos_) {
      return false;
    }
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  std::string_view file_;
  std::size_t pos_ = 0;
};

} // namespace

std::optional<std::string> avro_to_json_lines(std::string_view file, std::string& out) {
  long long expected = 0;
  if (auto wrong = Framing(file).read(expected)) {
    return "not one Avro container file: " + *wrong;
  }
  // Avro C reads a FILE*; the body stays in memory.
  FILE* in = fmemopen(const_cast<char*>(file.data()), file.size(), "rb");
  if (in == nullptr) {
    return std::string("cannot read the body: ") + std::strerror(errno);
  }
  avro_file_reader_t reader = nullptr;
  if (avro_file_reader_fp(in, "request body", 1, &reader) != 0) {
    return std::string("not a readable Avro container file: ") + avro_strerror();
  }
  avro_schema_t schema = avro_file_reader_get_writer_schema(reader);
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t value;
  avro_generic_value_new(iface, &value);
  std::optional<std::string> error;
  long long read = 0;
  std::string lines;
  int rc = 0;
  while ((rc = avro_file_reader_read_value(reader, &value)) == 0) {
    char* json = nullptr;
    if (avro_value_to_json(&value, 1, &json) != 0) {
      error = std::string("a record cannot be written as JSON: ") + avro_strerror();
      break;
    }
    lines += json;
    lines += '\n';
    std::free(json);
    ++read;
  }
  if (!error && rc != EOF) {
    error = std::string("record ") + std::to_string(read) + " cannot be read: " + avro_strerror();
  }
  if (!error && read != expected) {
    error = "the blocks promise " + std::to_string(expected) + " records, " + std::to_string(read) +
            " were read";
  }
  avro_value_decref(&value);
  avro_value_iface_decref(iface);
  avro_file_reader_close(reader);
  if (error) {
    return error;
  }
  out = std::move(lines);
  return std::nullopt;
}

} // namespace hub2kusto::kusto_emulator
