// DIMSE over DICOM TLS (`medsynth pacs --tls --ca-file --cert --key`) against a real Orthanc 1.10
// with DicomTlsEnabled, a CA and certificates made by openssl in the test: echo, push and C-GET
// pull give back the same voxels; a server certificate that the trusted CA did not sign, a missing
// client certificate, a plain connection and C-MOVE with TLS are refused clearly.
#include <gtest/gtest.h>

#include <string>

#include "medsynth/io/volume_io.h"
#include "orthanc_server.h"
#include "test_util.h"
#include "tls_proxy.h"

namespace io = medsynth::io;
using namespace medsynth::test;

TEST(PacsTls, EchoPushAndPullOverDicomTlsAndAnotherCasCertificateIsRefused) {
  TempDir tmp;
  const TestCertificate ca = make_test_ca(tmp.str(), "medsynth test CA");
  const TestCertificate server = make_server_certificate(ca, tmp.str("server"));
  const TestCertificate client = make_server_certificate(ca, tmp.str("client"));  // a leaf of the same CA
  const TestCertificate other_ca = make_test_ca(tmp.str(), "another CA");
  OrthancServer::Options options;
  options.tls_cert = server.cert;
  options.tls_key = server.key;
  options.tls_ca = ca.cert;
  options.tls_client_cert = client.cert;
  options.tls_client_key = client.key;
  OrthancServer pacs(options);  // ready once it answered an echo over TLS with the client certificate
  const std::string tls = " --tls --ca-file " + ca.cert + " --cert " + client.cert + " --key " + client.key;

  auto r = run_medsynth("pacs echo " + pacs.peer_args() + tls);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("C-ECHO ORTHANC@127.0.0.1"), std::string::npos) << r.out;

  const std::string kmeans = data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples");
  ASSERT_EQ(run_medsynth("convert " + kmeans + " " + tmp.str("s") + " --to dicom").exit_code, 0);
  const std::string uid = io::list_dicom_series(tmp.str("s")).front().series_uid;
  r = run_medsynth("pacs push " + pacs.peer_args() + tls + " " + tmp.str("s"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sent 62 file(s)"), std::string::npos) << r.out;
  r = run_medsynth("pacs pull " + pacs.peer_args() + tls + " --series-uid " + uid + " --out " + tmp.str("pulled"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume sent = io::read_volume(tmp.str("s")), back = io::read_volume(tmp.str("pulled"));
  EXPECT_TRUE(back.geometry.same_grid(sent.geometry, 1e-6));
  EXPECT_EQ(back.voxels, sent.voxels);

  // A server certificate that the trusted CA did not sign: refused, naming the CA file.
  r = run_medsynth("pacs echo " + pacs.peer_args() + " --tls --ca-file " + other_ca.cert + " --cert " + client.cert +
                   " --key " + client.key);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("C-ECHO: the TLS handshake failed ("), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("signed by the CA of --ca-file " + other_ca.cert), std::string::npos) << r.err;
  // No client certificate, for a server that requires one; no TLS at all.
  r = run_medsynth("pacs echo " + pacs.peer_args() + " --tls --ca-file " + ca.cert);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("TLS"), std::string::npos) << r.err;
  r = run_medsynth("pacs echo " + pacs.peer_args());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // Usage: C-MOVE has no TLS here, --cert without --key, TLS files without --tls, a key of another certificate.
  r = run_medsynth("pacs pull " + pacs.peer_args() + tls + " --method move --move-port " + std::to_string(pacs.move_port()) +
                   " --series-uid " + uid + " --out " + tmp.str("moved"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--method move cannot use --tls"), std::string::npos) << r.err;
  r = run_medsynth("pacs echo " + pacs.peer_args() + " --tls --ca-file " + ca.cert + " --cert " + client.cert);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  r = run_medsynth("pacs echo " + pacs.peer_args() + " --ca-file " + ca.cert);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--ca-file needs --tls or --dicomweb"), std::string::npos) << r.err;
  r = run_medsynth("pacs echo " + pacs.peer_args() + " --tls --ca-file " + ca.cert + " --cert " + client.cert + " --key " + server.key);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(server.key + ": does not belong to the certificate " + client.cert), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("moved")));
}
