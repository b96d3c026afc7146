/*
 * The tsim core on a bare RP2040: no SDK, no boot stage 2, UART0 on GP0/GP1 at 115200 baud.
 *
 * The minimal board that the tests run under rp2040js (run.mjs beside this file): a vector table,
 * the reset handler (copy .data, clear .bss), the peripherals out of reset, UART0 polled with a WFI
 * between bytes, the provisioning jumper on GP15 (to GND, pull-up on). A hobbyist flashing a Pico
 * uses the arduino-pico sketch (../dscplus_rp2040/) instead, which stores the image in flash.
 *
 * rp2040js cannot write flash, so this board keeps its 60-byte image in the last 256 bytes of SRAM
 * (the .image section, never cleared at boot): the runner loads it from a file before starting the
 * chip and writes it back whenever it changes, which stands in for the Pico's flash sector.
 */
#include "tsim.h"

#include <stdint.h>
#include <string.h>

#define REG(address) (*(volatile uint32_t *)(address))

#define RESETS_BASE 0x4000c000u
#define RESETS_RESET REG(RESETS_BASE + 0x0u)
#define RESETS_DONE REG(RESETS_BASE + 0x8u)
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_UART0 (1u << 22)

#define CLOCKS_BASE 0x40008000u
#define CLK_PERI_CTRL REG(CLOCKS_BASE + 0x48u)
#define CLK_PERI_ENABLE (1u << 11) /* AUXSRC 0: clk_sys */

#define IO_BANK0_BASE 0x40014000u
#define GPIO_CTRL(n) REG(IO_BANK0_BASE + 8u * (n) + 4u)
#define FUNC_UART 2u
#define PADS_BANK0_BASE 0x4001c000u
#define PAD(n) REG(PADS_BANK0_BASE + 4u + 4u * (n))
#define PAD_IE (1u << 6)
#define PAD_PUE (1u << 3)
#define SIO_GPIO_IN REG(0xd0000004u)

#define UART0_BASE 0x40034000u
#define UART_DR REG(UART0_BASE + 0x00u)
#define UART_FR REG(UART0_BASE + 0x18u)
#define UART_IBRD REG(UART0_BASE + 0x24u)
#define UART_FBRD REG(UART0_BASE + 0x28u)
#define UART_LCR_H REG(UART0_BASE + 0x2cu)
#define UART_CR REG(UART0_BASE + 0x30u)
#define UART_IMSC REG(UART0_BASE + 0x38u)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define LCR_8N1_FIFO ((3u << 5) | (1u << 4))
#define CR_ENABLE ((1u << 0) | (1u << 8) | (1u << 9))
#define IMSC_RX ((1u << 4) | (1u << 6))

#define NVIC_ISER REG(0xe000e100u)
#define UART0_IRQ 20

#define PROVISION_PIN 15
/* clk_peri runs from clk_sys, at reset the ring oscillator (nominally 6.5 MHz):
 * 6.5 MHz / (16 x 115200) = 3.526, so IBRD 3 and FBRD round(0.526 x 64) = 34. */
#define BAUD_IBRD 3u
#define BAUD_FBRD 34u

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;

static uint8_t stored[TSIM_IMAGE_SIZE] __attribute__((section(".image")));
static tsim_device dev;
static tsim_config config;

int main(void);

void reset_handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end; dst++) {
        *dst = 0;
    }
    main();
    for (;;) {
    }
}

void uart0_handler(void)
{
    /* Only wakes the main loop: it masks the interrupt, the loop drains the FIFO and unmasks it. */
    UART_IMSC = 0;
}

static void hang(void)
{
    for (;;) {
    }
}

/* Cortex-M0+ vectors: the initial stack pointer, 15 system exceptions, then 26 interrupts. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 26])(void) = {
    [0] = (void (*)(void))(uintptr_t)&__stack_top,
    [1] = reset_handler,
    [2] = hang,
    [3] = hang,
    [16 + UART0_IRQ] = uart0_handler,
};

static void send(const uint8_t *data, size_t len)
{
    while (len-- > 0) {
        while (UART_FR & FR_TXFF) {
        }
        UART_DR = *data++;
    }
}

static int save_image(void *user, const uint8_t *image, size_t len)
{
    (void)user;
    memcpy(stored, image, len);
    return memcmp(stored, image, len) == 0 ? 0 : -1;
}

int main(void)
{
    uint8_t out[TSIM_MAX_FRAME];
    const uint32_t needed = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0;

    CLK_PERI_CTRL = CLK_PERI_ENABLE;
    RESETS_RESET &= ~needed;
    while ((RESETS_DONE & needed) != needed) {
    }
    GPIO_CTRL(0) = FUNC_UART;
    GPIO_CTRL(1) = FUNC_UART;
    PAD(PROVISION_PIN) = PAD_IE | PAD_PUE;
    UART_IBRD = BAUD_IBRD;
    UART_FBRD = BAUD_FBRD;
    UART_LCR_H = LCR_8N1_FIFO;
    UART_CR = CR_ENABLE;
    NVIC_ISER = 1u << UART0_IRQ;

    config.firmware[0] = 1;
    config.firmware[1] = 0;
    config.firmware[2] = 0;
    config.capabilities = (uint16_t)(TSIM_CORE_CAPABILITIES | TSIM_CAP_PERSISTENT);
    config.board_id = "rp2040-1";
    config.save = save_image;
    config.user = NULL;
    tsim_device_init(&dev, &config, stored, sizeof stored, (SIO_GPIO_IN & (1u << PROVISION_PIN)) == 0);
    send(out, tsim_device_ready(&dev, out, sizeof out));

    for (;;) {
        while (!(UART_FR & FR_RXFE)) {
            size_t n = tsim_device_feed(&dev, (uint8_t)UART_DR, out, sizeof out);
            if (n > 0) {
                send(out, n);
            }
        }
        /* Sleep until the next byte; the masked WFI is woken by a pending interrupt. */
        __asm__ volatile("cpsid i" ::: "memory");
        UART_IMSC = IMSC_RX;
        if (UART_FR & FR_RXFE) {
            __asm__ volatile("wfi" ::: "memory");
        }
        __asm__ volatile("cpsie i" ::: "memory");
    }
}
