#include "common/redact.hpp"

#include <gtest/gtest.h>

namespace hub2kusto {
namespace {

TEST(Redact, MasksEventHubsKeysAndKeepsTheRest) {
  EXPECT_EQ(redact_connection_string("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName="
                                     "rule;SharedAccessKey=abc+/def==;EntityPath=hub"),
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=rule;"
            "SharedAccessKey=***;EntityPath=hub");
}

TEST(Redact, MasksAWholePrebuiltSignature) {
  EXPECT_EQ(redact_connection_string("Endpoint=sb://h/;SharedAccessSignature=SharedAccessSignature "
                                     "sr=x&sig=abc%3d&se=1&skn=r;EntityPath=hub"),
            "Endpoint=sb://h/;SharedAccessSignature=***;EntityPath=hub");
}

TEST(Redact, MasksKustoSecretsWithSpacesInKeys) {
  EXPECT_EQ(redact_connection_string("Data Source=https://c;Application Key=s3cr3t;AppKey=x;"
                                     "Application Token=tok;Password=pw"),
            "Data Source=https://c;Application Key=***;AppKey=***;Application Token=***;"
            "Password=***");
}

TEST(Redact, MasksStorageAccountKeys) {
  EXPECT_EQ(redact_connection_string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                     "AccountKey=Eby8vdM02xNO==;BlobEndpoint=http://127.0.0.1:1"),
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=***;"
            "BlobEndpoint=http://127.0.0.1:1");
}

TEST(Redact, MasksTokensInFreeText) {
  EXPECT_EQ(redact_text("put-token SharedAccessSignature sr=sb%3a%2f%2fh&sig=abc%3d&se=1&skn=r "
                        "refused"),
            "put-token SharedAccessSignature sr=sb%3a%2f%2fh&sig=***&se=1&skn=r refused");
  EXPECT_EQ(redact_text("Authorization: Bearer eyJ0eXAi.abc.def, retrying"),
            "Authorization: Bearer ***, retrying");
  EXPECT_EQ(redact_text(R"({"token_type":"Bearer","access_token":"eyJ.x.y","expires_in":3599})"),
            R"({"token_type":"Bearer","access_token":"***","expires_in":3599})");
  EXPECT_EQ(redact_text("grant_type=client_credentials&client_secret=s3cr3t&scope=x"),
            "grant_type=client_credentials&client_secret=***&scope=x");
}

TEST(Redact, LeavesOrdinaryTextAlone) {
  const std::string text = "design=good; signature verified; partition 3 lag 10";
  EXPECT_EQ(redact_text(text), text);
}

} // namespace
} // namespace hub2kusto
