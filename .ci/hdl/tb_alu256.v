// Icarus Verilog testbench for the emitted coevm_alu256: EVM results with known answers,
// operands in EVM stack order (a = top of stack), through the 64-bit valid/ready bus.
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

  coevm_alu256 dut(.clock(clock), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
      .out_data(out_data), .out_last(out_last), .out_valid(out_valid), .out_ready(out_ready));

  localparam [255:0] MAX = {256{1'b1}};
  localparam [255:0] MIN = {1'b1, 255'b0};

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

  task send_operand(input [255:0] v);
    integer i;
    begin
      for (i = 0; i < 4; i = i + 1) send_word(v[64*i +: 64]);
    end
  endtask

  // op: AluOp discriminant; arity: operands sent.
  task check(input [8*10-1:0] name, input [4:0] op, input integer arity,
             input [255:0] a, input [255:0] b, input [255:0] c, input [255:0] want);
    integer i, start;
    reg [255:0] got;
    begin
      start = cycles;
      send_word({59'b0, op});
      send_operand(a);
      if (arity > 1) send_operand(b);
      if (arity > 2) send_operand(c);
      for (i = 0; i < 4; i = i + 1) begin
        @(negedge clock);
        out_ready = 1;
        #1;
        while (!out_valid) begin @(negedge clock); #1; end
        got[64*i +: 64] = out_data;
        @(posedge clock);
        #1 out_ready = 0;
      end
      if (got !== want) begin
        $display("FAIL %0s: got %h want %h", name, got, want);
        failures = failures + 1;
      end else
        $display("ok   %0s = %h (%0d cycles)", name, got, cycles - start);
    end
  endtask

  initial begin
    check("ADD",        0, 2, MAX, 2, 0, 1);
    check("SUB",        2, 2, 3, 5, 0, MAX - 1);
    check("MUL",        1, 2, (256'd1 << 128) + 3, (256'd1 << 128) + 5, 0, (256'd8 << 128) + 15);
    check("DIV",        3, 2, MAX, 3, 0, {64{4'h5}});
    check("SDIV",       4, 2, -256'sd8, 3, 0, -256'sd2);
    check("SDIV_MIN",   4, 2, MIN, MAX, 0, MIN);
    check("MOD",        5, 2, 100, 7, 0, 2);
    check("SMOD",       6, 2, -256'sd8, 3, 0, -256'sd2);
    check("DIV0",       3, 2, 5, 0, 0, 0);
    check("ADDMOD",     7, 3, MAX, 2, MAX, 2);
    check("MULMOD",     8, 3, MAX, MAX, 12, 9);
    check("EXP",        9, 2, 3, 4, 0, 81);
    check("EXP2_255",   9, 2, 2, 255, 0, MIN);
    check("SIGNEXT",   10, 2, 0, 8'h80, 0, MAX - 8'h7f);
    check("SLT",       13, 2, MAX, 0, 0, 1);
    check("SGT",       14, 2, MAX, 0, 0, 0);
    check("ISZERO",    16, 1, 0, 0, 0, 1);
    check("NOT",       20, 1, 0, 0, 0, MAX);
    check("BYTE",      21, 2, 31, 8'hab, 0, 8'hab);
    check("SHL",       22, 2, 4, 1, 0, 16);
    check("SHR_BIG",   23, 2, 256, MAX, 0, 0);
    check("SAR",       24, 2, 4, -256'sd256, 0, -256'sd16);
    check("CLZ",       25, 1, 1, 0, 0, 255);
    if (failures == 0) $display("PASS alu256 testbench");
    else $display("FAIL alu256 testbench: %0d failures", failures);
    $finish;
  end

  initial begin
    #10000000;
    $display("FAIL alu256 testbench: timeout");
    $finish;
  end
endmodule
