/*
 * OCRA as specified in RFC 6287 sections 5 and 6, for the suites a DSC+ board uses:
 * OCRA-1:HOTP-SHA1|SHA256-d:[C-]QNxx[-PSHA1|PSHA256] (no session, no time: a board has no clock).
 *
 * The HMAC message is DataInput = suite text || 0x00 || [C] || Q || [P] (section 5.1). It is
 * streamed into the HMAC piece by piece instead of built in RAM: Q alone is 128 bytes.
 */
#include "tsim.h"

#include <string.h>

#define QUESTION_BYTES 128
/* MAX_CHALLENGE decimal digits are below 10^38 < 2^127: 16 bytes hold the number. */
#define NUMBER_BYTES 16

uint8_t tsim_suite_decode(tsim_suite *suite, const uint8_t code[TSIM_SUITE_CODE_SIZE])
{
    suite->hash = code[0];
    suite->digits = code[1];
    suite->qformat = code[2];
    suite->qlength = code[3];
    suite->pin_hash = code[4];
    suite->counter = (uint8_t)(code[5] & 1u);
    if (suite->digits < 4 || suite->digits > 10 || suite->qlength < 4 || suite->qlength > 64) {
        return TSIM_E_BAD_PAYLOAD;
    }
    if (tsim_hash_size(suite->hash) == 0 || (code[5] & ~1u) != 0 || suite->qformat != 'N') {
        return TSIM_E_UNSUPPORTED_SUITE;
    }
    if (suite->pin_hash != TSIM_HASH_NONE && tsim_hash_size(suite->pin_hash) == 0) {
        return TSIM_E_UNSUPPORTED_SUITE;
    }
    return TSIM_E_OK;
}

void tsim_suite_encode(const tsim_suite *suite, uint8_t code[TSIM_SUITE_CODE_SIZE])
{
    code[0] = suite->hash;
    code[1] = suite->digits;
    code[2] = suite->qformat;
    code[3] = suite->qlength;
    code[4] = suite->pin_hash;
    code[5] = suite->counter ? 1u : 0u;
}

/* text is a TSIM_TEXT constant (in flash on AVR) when from_flash is non-zero, else in RAM. */
static size_t append(char *out, size_t at, size_t cap, const char *text, int from_flash)
{
    size_t len = from_flash ? tsim_text_len(text) : strlen(text);
    if (at + len > cap) {
        return cap + 1; /* marks overflow; every later append keeps it */
    }
    if (from_flash) {
        tsim_text_copy(out + at, text, len);
    } else {
        memcpy(out + at, text, len);
    }
    return at + len;
}

static const char *hash_name(uint8_t alg)
{
    if (alg == TSIM_HASH_SHA1) {
        return TSIM_TEXT("SHA1");
    }
    return TSIM_TEXT("SHA256");
}

size_t tsim_suite_text(const tsim_suite *suite, char *out, size_t cap)
{
    /* The canonical spelling, as tokensim.protocol.wire.SuiteCode.text() writes it. */
    char number[4];
    size_t at = append(out, 0, cap, TSIM_TEXT("OCRA-1:HOTP-"), 1);
    at = append(out, at, cap, hash_name(suite->hash), 1);
    number[0] = '-';
    if (suite->digits >= 10) {
        number[1] = (char)('0' + suite->digits / 10);
        number[2] = (char)('0' + suite->digits % 10);
        number[3] = '\0';
    } else {
        number[1] = (char)('0' + suite->digits);
        number[2] = '\0';
    }
    at = append(out, at, cap, number, 0);
    at = append(out, at, cap, suite->counter ? TSIM_TEXT(":C-Q") : TSIM_TEXT(":Q"), 1);
    number[0] = (char)suite->qformat;
    number[1] = (char)('0' + suite->qlength / 10);
    number[2] = (char)('0' + suite->qlength % 10);
    number[3] = '\0';
    at = append(out, at, cap, number, 0);
    if (suite->pin_hash != TSIM_HASH_NONE) {
        at = append(out, at, cap, TSIM_TEXT("-P"), 1);
        at = append(out, at, cap, hash_name(suite->pin_hash), 1);
    }
    return at > cap ? 0 : at;
}

/*
 * The Q field of a numeric challenge (section 5.1; standards note 3.2): the decimal number written
 * in hex, a 0 nibble appended when that hex has an odd number of digits, as bytes, zero-padded to
 * 128 bytes. Returns the number of significant bytes written to out.
 */
static size_t numeric_question(const char *digits, size_t len, uint8_t out[NUMBER_BYTES + 1])
{
    uint8_t number[NUMBER_BYTES];
    size_t i, first, nibbles, count = 0;
    memset(number, 0, sizeof number);
    for (i = 0; i < len; i++) {
        /* number = number * 10 + digit, big-endian, byte by byte */
        unsigned carry = (unsigned)(digits[i] - '0');
        size_t j = NUMBER_BYTES;
        while (j-- > 0) {
            unsigned v = (unsigned)number[j] * 10u + carry;
            number[j] = (uint8_t)(v & 0xffu);
            carry = v >> 8;
        }
    }
    /* Leading zero nibbles are not written; zero itself is the one nibble "0". */
    first = 0;
    while (first < 2 * NUMBER_BYTES - 1) {
        uint8_t nibble = (first & 1u) ? (uint8_t)(number[first / 2] & 0x0f) : (uint8_t)(number[first / 2] >> 4);
        if (nibble != 0) {
            break;
        }
        first++;
    }
    nibbles = 2 * NUMBER_BYTES - first;
    for (i = 0; i < nibbles; i += 2) {
        size_t n = first + i;
        uint8_t high = (n & 1u) ? (uint8_t)(number[n / 2] & 0x0f) : (uint8_t)(number[n / 2] >> 4);
        uint8_t low = 0;
        if (i + 1 < nibbles) {
            size_t m = n + 1;
            low = (m & 1u) ? (uint8_t)(number[m / 2] & 0x0f) : (uint8_t)(number[m / 2] >> 4);
        }
        out[count++] = (uint8_t)((high << 4) | low);
    }
    memset(number, 0, sizeof number);
    return count;
}

uint8_t tsim_ocra(const tsim_suite *suite, const uint8_t *key, size_t key_len, uint64_t counter,
                  const char *challenge, size_t challenge_len, const char *pin, size_t pin_len,
                  char *out)
{
    tsim_hmac_ctx hmac;
    uint8_t buffer[TSIM_MAX_DIGEST];
    uint8_t question[NUMBER_BYTES + 1];
    char text[48];
    size_t i, text_len, question_len, mac_len;
    uint8_t offset;
    uint32_t binary;

    if (suite->qformat != 'N' || challenge_len < 4 || challenge_len > suite->qlength ||
        challenge_len > TSIM_MAX_CHALLENGE) {
        return TSIM_E_BAD_PAYLOAD;
    }
    for (i = 0; i < challenge_len; i++) {
        if (challenge[i] < '0' || challenge[i] > '9') {
            return TSIM_E_BAD_PAYLOAD;
        }
    }
    if ((suite->pin_hash == TSIM_HASH_NONE) != (pin_len == 0)) {
        return TSIM_E_BAD_PAYLOAD;
    }
    text_len = tsim_suite_text(suite, text, sizeof text);
    if (text_len == 0 || tsim_hmac_init(&hmac, suite->hash, key, key_len) != 0) {
        return TSIM_E_INTERNAL;
    }

    tsim_hmac_update(&hmac, (const uint8_t *)text, text_len);
    buffer[0] = 0x00;
    tsim_hmac_update(&hmac, buffer, 1);
    if (suite->counter) {
        for (i = 0; i < 8; i++) {
            buffer[i] = (uint8_t)(counter >> (56 - 8 * i));
        }
        tsim_hmac_update(&hmac, buffer, 8);
    }
    question_len = numeric_question(challenge, challenge_len, question);
    tsim_hmac_update(&hmac, question, question_len);
    memset(buffer, 0, sizeof buffer);
    for (i = question_len; i < QUESTION_BYTES;) {
        size_t chunk = QUESTION_BYTES - i < sizeof buffer ? QUESTION_BYTES - i : sizeof buffer;
        tsim_hmac_update(&hmac, buffer, chunk);
        i += chunk;
    }
    if (suite->pin_hash != TSIM_HASH_NONE) {
        /* P is the hash of the PIN (section 5.1); the PIN itself is never kept. */
        tsim_hash_ctx pin_ctx;
        size_t size;
        tsim_hash_init(&pin_ctx, suite->pin_hash);
        tsim_hash_update(&pin_ctx, (const uint8_t *)pin, pin_len);
        size = tsim_hash_final(&pin_ctx, buffer);
        tsim_hmac_update(&hmac, buffer, size);
    }
    mac_len = tsim_hmac_final(&hmac, buffer);

    /* Dynamic truncation as in HOTP (RFC 4226 section 5.3), then the last `digits` decimals. */
    offset = (uint8_t)(buffer[mac_len - 1] & 0x0f);
    binary = ((uint32_t)(buffer[offset] & 0x7f) << 24) | ((uint32_t)buffer[offset + 1] << 16) |
             ((uint32_t)buffer[offset + 2] << 8) | (uint32_t)buffer[offset + 3];
    memset(buffer, 0, sizeof buffer);
    out[suite->digits] = '\0';
    for (i = suite->digits; i-- > 0;) {
        out[i] = (char)('0' + binary % 10u);
        binary /= 10u;
    }
    return TSIM_E_OK;
}
