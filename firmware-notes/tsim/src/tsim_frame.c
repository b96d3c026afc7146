/*
 * Frames on the wire: version | seq | type | len | payload | CRC-16, COBS-encoded, ending in 0x00.
 * The layout is in firmware-notes/wire-protocol.md.
 */
#include "tsim.h"

#include <string.h>

uint16_t tsim_crc16(const uint8_t *data, size_t len)
{
    /* CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, MSB first, no final XOR.
     * (avr-libc's _crc_ccitt_update is the reflected variant: not this one.) */
    uint16_t crc = 0xffffu;
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned bit;
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t tsim_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    /* Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999): each block starts with a code
     * byte, the distance to the next zero (or 0xFF for 254 non-zero bytes without a zero). */
    size_t code_at = 0, at = 1, i;
    uint8_t code = 1;
    if (cap == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = at++;
            code = 1;
        } else {
            if (at >= cap) {
                return 0;
            }
            out[at++] = in[i];
            code++;
            if (code == 0xff && i + 1 < len) {
                out[code_at] = code;
                code_at = at++;
                code = 1;
            }
        }
        if (at > cap) {
            return 0;
        }
    }
    out[code_at] = code;
    return at;
}

size_t tsim_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t at = 0, i = 0;
    while (i < len) {
        uint8_t code = in[i++];
        uint8_t k;
        if (code == 0) {
            return (size_t)-1;
        }
        for (k = 1; k < code; k++) {
            if (i >= len || in[i] == 0 || at >= cap) {
                return (size_t)-1;
            }
            out[at++] = in[i++];
        }
        if (code != 0xff && i < len) {
            if (at >= cap) {
                return (size_t)-1;
            }
            out[at++] = 0;
        }
    }
    return at;
}

size_t tsim_frame_encode(uint8_t seq, uint8_t type, const uint8_t *payload, size_t len, uint8_t *out,
                         size_t cap)
{
    uint8_t raw[TSIM_HEADER_SIZE + TSIM_MAX_PAYLOAD + TSIM_CRC_SIZE];
    uint16_t crc;
    size_t encoded;
    if (len > TSIM_MAX_PAYLOAD) {
        return 0;
    }
    raw[0] = TSIM_FRAME_VERSION;
    raw[1] = seq;
    raw[2] = type;
    raw[3] = (uint8_t)len;
    if (len > 0) {
        memcpy(raw + TSIM_HEADER_SIZE, payload, len);
    }
    crc = tsim_crc16(raw, TSIM_HEADER_SIZE + len);
    raw[TSIM_HEADER_SIZE + len] = (uint8_t)(crc >> 8);
    raw[TSIM_HEADER_SIZE + len + 1] = (uint8_t)crc;
    if (cap < 1) {
        return 0;
    }
    encoded = tsim_cobs_encode(raw, TSIM_HEADER_SIZE + len + TSIM_CRC_SIZE, out, cap - 1);
    if (encoded == 0) {
        return 0;
    }
    out[encoded] = 0x00;
    return encoded + 1;
}
