/*
 * fuzz/fuzz_ws_frame_server.c — proto/ws_frame.c parser as a server
 * (receives masked frames). See ws_frame_harness.h for the input layout and
 * the invariants.
 */
#include "fuzz/ws_frame_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ws_frame_harness(data, size, WS_FRAME_SERVER);
}
