#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::encoding {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  // RFC 4648 §10.
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesRfc4648VectorsAndBinary) {
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode(""), "");
  const std::string binary("\x00\xff\x10\x80", 4);
  EXPECT_EQ(base64_decode(base64_encode(binary)), binary);
}

TEST(Base64Url, UsesTheUrlAlphabetWithoutPaddingBothWays) {
  const std::string bytes("\xfb\xff\xbf?", 4);
  EXPECT_EQ(base64url_encode(bytes), "-_-_Pw");
  EXPECT_EQ(base64url_decode("-_-_Pw"), bytes);
  EXPECT_EQ(base64url_decode("-_-_Pw=="), bytes);
  EXPECT_EQ(base64url_decode("eyJhIjoxfQ"), R"({"a":1})");
  EXPECT_FALSE(base64url_decode("+/+/Pw"));
  EXPECT_FALSE(base64url_decode("a=b"));
}

TEST(Base64, RejectsMalformedInput) {
  EXPECT_FALSE(base64_decode("Zm9"));       // not a multiple of four
  EXPECT_FALSE(base64_decode("Zm9v YmFy")); // whitespace
  EXPECT_FALSE(base64_decode("Zm=vYmFy"));  // padding in the middle
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));  // not in the alphabet
  EXPECT_FALSE(base64_decode("Zg=a"));      // data after padding
  EXPECT_FALSE(base64_decode("===="));
}

TEST(UriComponentEncode, MatchesEcmaScriptEncodeUriComponent) {
  EXPECT_EQ(uri_component_encode("sb://ns.servicebus.windows.net/hub"),
            "sb%3A%2F%2Fns.servicebus.windows.net%2Fhub");
  EXPECT_EQ(uri_component_encode("AZaz09-_.!~*'()"), "AZaz09-_.!~*'()");
  EXPECT_EQ(uri_component_encode("a b+c/d=e&f"), "a%20b%2Bc%2Fd%3De%26f");
  EXPECT_EQ(uri_component_encode("\xc3\xbc"), "%C3%BC"); // ü in UTF-8
}

TEST(UriComponentEncode, StrictVariantEncodesFiveMoreCharactersLikeAzureIotCommon) {
  // azure-iot-common writes '%' + charCode.toString(16): lower-case hex for these five only.
  EXPECT_EQ(uri_component_encode_strict("!'()*"), "%21%27%28%29%2a");
  EXPECT_EQ(uri_component_encode_strict("a/b c~"), "a%2Fb%20c~");
}

TEST(PercentDecode, DecodesAndRejectsBadEscapes) {
  EXPECT_EQ(percent_decode("sb%3a%2F%2Fhost"), "sb://host");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_FALSE(percent_decode("abc%2"));
  EXPECT_FALSE(percent_decode("abc%"));
  EXPECT_FALSE(percent_decode("%zz"));
}

} // namespace
} // namespace hub2kusto::encoding
