// Icarus Verilog testbench for the emitted coevm_storage unit: inserts, hits, misses and an
// overwrite through the 64-bit valid/ready bus (keys are hashed by the embedded keccak core).
`timescale 1ns/1ps
module tb;
  reg clock = 0;
  always #5 clock = ~clock;

  reg  [63:0] in_data = 0;
  reg         in_valid = 0;
  reg         out_ready = 0;
  wire        in_ready;
  wire [63:0] out_data;
  wire        out_last;
  wire        out_valid;

  coevm_storage dut(.clock(clock), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
      .out_data(out_data), .out_last(out_last), .out_valid(out_valid), .out_ready(out_ready));

  integer failures = 0;
  integer cycles = 0;
  always @(posedge clock) cycles = cycles + 1;

  task send_word(input [63:0] d);
    begin
      @(negedge clock);
      in_data = d; in_valid = 1;
      #1;
      while (!in_ready) begin @(negedge clock); #1; end
      @(posedge clock);
      #1 in_valid = 0;
    end
  endtask

  // Key k: 52 bytes, byte i = k + 5*i (the unit hashes whatever 52 bytes it is given).
  task send_key(input [7:0] k);
    integer i, j;
    reg [63:0] w;
    begin
      for (i = 0; i < 7; i = i + 1) begin
        w = 0;
        for (j = 0; j < 8; j = j + 1) if (8*i + j < 52) w[8*j +: 8] = k + 5*(8*i + j);
        send_word(w);
      end
    end
  endtask

  task request(input insert, input [7:0] k, input [255:0] value,
               input [1:0] want_status, input [255:0] want_value, input [8*16-1:0] name);
    integer i, start;
    reg [63:0] status;
    reg [255:0] got;
    begin
      start = cycles;
      send_word({63'b0, insert});
      send_key(k);
      if (insert) for (i = 0; i < 4; i = i + 1) send_word(value[64*i +: 64]);
      for (i = 0; i < 5; i = i + 1) begin
        @(negedge clock);
        out_ready = 1;
        #1;
        while (!out_valid) begin @(negedge clock); #1; end
        if (i == 0) status = out_data; else got[64*(i-1) +: 64] = out_data;
        if ((i == 4) != out_last) begin
          $display("FAIL %0s: out_last on beat %0d", name, i);
          failures = failures + 1;
        end
        @(posedge clock);
        #1 out_ready = 0;
      end
      if (status[1:0] !== want_status || (!insert && got !== want_value)) begin
        $display("FAIL %0s: status %0d value %h, want %0d %h", name, status[1:0], got, want_status, want_value);
        failures = failures + 1;
      end else
        $display("ok   %0s: status %0d value %h (%0d cycles)", name, status[1:0], got, cycles - start);
    end
  endtask

  initial begin
    request(0, 8'h10, 0, 2'd0, 0, "lookup empty");
    request(1, 8'h10, 256'h1234, 2'd1, 0, "insert A");
    request(1, 8'h20, {4{64'hdeadbeef00c0ffee}}, 2'd1, 0, "insert B");
    request(0, 8'h10, 0, 2'd1, 256'h1234, "lookup A");
    request(0, 8'h20, 0, 2'd1, {4{64'hdeadbeef00c0ffee}}, "lookup B");
    request(0, 8'h30, 0, 2'd0, 0, "lookup C absent");
    request(1, 8'h10, {256{1'b1}}, 2'd1, 0, "overwrite A");
    request(0, 8'h10, 0, 2'd1, {256{1'b1}}, "lookup A again");
    if (failures == 0) $display("PASS storage testbench");
    else $display("FAIL storage testbench: %0d failures", failures);
    $finish;
  end

  initial begin
    #1000000;
    $display("FAIL storage testbench: timeout");
    $finish;
  end
endmodule
