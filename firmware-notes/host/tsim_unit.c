/*
 * Known-answer checks and a line-oriented calculator over the tsim core, for the host tests.
 *
 *   tsim_unit selftest              FIPS 180-4 / RFC 2202 / RFC 4231 / RFC 6287 known answers
 *   tsim_unit                       reads commands from stdin, one per line, and answers each:
 *     sha1 HEX | sha256 HEX | hmac1 KEY MSG | hmac256 KEY MSG | crc HEX | cobs HEX | uncobs HEX
 *     ocra SUITECODE KEY COUNTER CHALLENGE PIN        (PIN "-" for none)
 * Hex "-" is the empty string. Answers are lowercase hex, or "E<code>" for a refused input.
 */
#include "tsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES 2048

static int unhex(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(text), i;
    if (strcmp(text, "-") == 0) {
        *len = 0;
        return 0;
    }
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        unsigned value;
        if (sscanf(text + 2 * i, "%2x", &value) != 1) {
            return -1;
        }
        out[i] = (uint8_t)value;
    }
    *len = n / 2;
    return 0;
}

static void print_hex(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        printf("%02x", data[i]);
    }
    printf(len == 0 ? "-\n" : "\n");
}

static size_t digest(const char *name, const uint8_t *data, size_t len, uint8_t *out)
{
    tsim_hash_ctx ctx;
    tsim_hash_init(&ctx, strcmp(name, "sha1") == 0 ? TSIM_HASH_SHA1 : TSIM_HASH_SHA256);
    tsim_hash_update(&ctx, data, len);
    return tsim_hash_final(&ctx, out);
}

static size_t mac(uint8_t alg, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len, uint8_t *out)
{
    tsim_hmac_ctx ctx;
    tsim_hmac_init(&ctx, alg, key, key_len);
    tsim_hmac_update(&ctx, msg, len);
    return tsim_hmac_final(&ctx, out);
}

static int check(const char *name, const uint8_t *got, size_t len, const char *expected_hex)
{
    uint8_t expected[64];
    size_t expected_len;
    if (unhex(expected_hex, expected, sizeof expected, &expected_len) != 0 || expected_len != len ||
        memcmp(got, expected, len) != 0) {
        printf("FAIL %s\n", name);
        return 1;
    }
    return 0;
}

static int selftest(void)
{
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char larger[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    uint8_t out[32], key[131], million[1000];
    tsim_sha1_ctx sha1;
    tsim_suite suite;
    char response[11];
    int failures = 0, checks = 0;
    unsigned i;

    /* FIPS 180 example messages */
    failures += check("sha1 abc", out, digest("sha1", (const uint8_t *)"abc", 3, out),
                      "a9993e364706816aba3e25717850c26c9cd0d89d"), checks++;
    failures += check("sha256 abc", out, digest("sha256", (const uint8_t *)"abc", 3, out),
                      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), checks++;
    failures += check("sha1 two blocks", out, digest("sha1", (const uint8_t *)two_blocks, 56, out),
                      "84983e441c3bd26ebaae4aa1f95129e5e54670f1"), checks++;
    failures += check("sha256 two blocks", out, digest("sha256", (const uint8_t *)two_blocks, 56, out),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), checks++;
    memset(million, 'a', sizeof million);
    tsim_sha1_init(&sha1);
    for (i = 0; i < 1000; i++) {
        tsim_sha1_update(&sha1, million, sizeof million);
    }
    tsim_sha1_final(&sha1, out);
    failures += check("sha1 million a", out, TSIM_SHA1_SIZE, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"), checks++;

    /* RFC 2202 test cases 1 and 2; RFC 4231 test cases 1 and 6 */
    memset(key, 0x0b, 20);
    failures += check("hmac-sha1 2202.1", out, mac(TSIM_HASH_SHA1, key, 20, (const uint8_t *)"Hi There", 8, out),
                      "b617318655057264e28bc0b6fb378c8ef146be00"), checks++;
    failures += check("hmac-sha1 2202.2", out,
                      mac(TSIM_HASH_SHA1, (const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?",
                          28, out),
                      "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"), checks++;
    failures += check("hmac-sha256 4231.1", out,
                      mac(TSIM_HASH_SHA256, key, 20, (const uint8_t *)"Hi There", 8, out),
                      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"), checks++;
    memset(key, 0xaa, sizeof key);
    failures += check("hmac-sha256 4231.6", out,
                      mac(TSIM_HASH_SHA256, key, sizeof key, (const uint8_t *)larger, strlen(larger), out),
                      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"), checks++;

    /* CRC-16/CCITT-FALSE check value */
    out[0] = (uint8_t)(tsim_crc16((const uint8_t *)"123456789", 9) >> 8);
    out[1] = (uint8_t)tsim_crc16((const uint8_t *)"123456789", 9);
    failures += check("crc16", out, 2, "29b1"), checks++;

    /* RFC 6287 Appendix C.1, the first vector */
    suite.hash = TSIM_HASH_SHA1;
    suite.digits = 6;
    suite.qformat = 'N';
    suite.qlength = 8;
    suite.pin_hash = TSIM_HASH_NONE;
    suite.counter = 0;
    memcpy(key, "12345678901234567890", 20);
    if (tsim_ocra(&suite, key, 20, 0, "00000000", 8, NULL, 0, response) != TSIM_E_OK ||
        strcmp(response, "237653") != 0) {
        printf("FAIL ocra C.1\n");
        failures++;
    }
    checks++;
    if (failures == 0) {
        printf("ok %d\n", checks);
    }
    return failures == 0 ? 0 : 1;
}

static void command(char *line)
{
    static uint8_t a[MAX_BYTES], b[MAX_BYTES], out[2 * MAX_BYTES];
    size_t a_len, b_len, len;
    char *words[6];
    int count = 0;
    char *word = strtok(line, " \t\r\n");
    while (word != NULL && count < 6) {
        words[count++] = word;
        word = strtok(NULL, " \t\r\n");
    }
    if (count == 0) {
        return;
    }
    if (count == 2 && (strcmp(words[0], "sha1") == 0 || strcmp(words[0], "sha256") == 0) &&
        unhex(words[1], a, sizeof a, &a_len) == 0) {
        print_hex(out, digest(words[0], a, a_len, out));
    } else if (count == 3 && (strcmp(words[0], "hmac1") == 0 || strcmp(words[0], "hmac256") == 0) &&
               unhex(words[1], a, sizeof a, &a_len) == 0 && unhex(words[2], b, sizeof b, &b_len) == 0) {
        print_hex(out, mac(strcmp(words[0], "hmac1") == 0 ? TSIM_HASH_SHA1 : TSIM_HASH_SHA256, a, a_len, b, b_len, out));
    } else if (count == 2 && strcmp(words[0], "crc") == 0 && unhex(words[1], a, sizeof a, &a_len) == 0) {
        uint16_t crc = tsim_crc16(a, a_len);
        printf("%04x\n", crc);
    } else if (count == 2 && strcmp(words[0], "cobs") == 0 && unhex(words[1], a, sizeof a, &a_len) == 0) {
        len = tsim_cobs_encode(a, a_len, out, sizeof out);
        print_hex(out, len);
    } else if (count == 2 && strcmp(words[0], "uncobs") == 0 && unhex(words[1], a, sizeof a, &a_len) == 0) {
        len = tsim_cobs_decode(a, a_len, out, sizeof out);
        if (len == (size_t)-1) {
            printf("E%02x\n", TSIM_E_BAD_PAYLOAD);
        } else {
            print_hex(out, len);
        }
    } else if (count == 6 && strcmp(words[0], "ocra") == 0 && unhex(words[1], a, sizeof a, &a_len) == 0 &&
               a_len == TSIM_SUITE_CODE_SIZE && unhex(words[2], b, sizeof b, &b_len) == 0) {
        tsim_suite suite;
        char response[11];
        uint64_t counter = strtoull(words[3], NULL, 10);
        const char *pin = strcmp(words[5], "-") == 0 ? "" : words[5];
        uint8_t status = tsim_suite_decode(&suite, a);
        if (status == TSIM_E_OK) {
            status = tsim_ocra(&suite, b, b_len, counter, words[4], strlen(words[4]), pin, strlen(pin), response);
        }
        if (status == TSIM_E_OK) {
            printf("%s\n", response);
        } else {
            printf("E%02x\n", status);
        }
    } else {
        printf("E%02x\n", TSIM_E_UNKNOWN_COMMAND);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static char line[8 * MAX_BYTES];
    if (argc == 2 && strcmp(argv[1], "selftest") == 0) {
        return selftest();
    }
    if (argc != 1) {
        fprintf(stderr, "usage: tsim_unit [selftest]\n");
        return 2;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        command(line);
    }
    return 0;
}
